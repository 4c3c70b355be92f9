//! Benchmarks of Lucerna: criterion micro-benchmarks live in `benches/`.
