//! obs-tonic (work in progress)
