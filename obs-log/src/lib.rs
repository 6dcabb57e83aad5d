//! obs-log (work in progress)
