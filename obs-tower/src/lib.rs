//! obs-tower (work in progress)
