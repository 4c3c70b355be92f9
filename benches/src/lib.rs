//! Benchmarks of Lucerna: criterion micro-benchmarks live in `benches/`,
//! scenario benchmarks (which print JSON and a table) in `src/bin/`.
