//! obs-core (work in progress)
