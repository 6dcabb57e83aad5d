//! obs-metrics (work in progress)
