//! obs examples
