//! Queries, scoring and collection.

pub mod bm25;
pub mod collector;
mod conjunction;
mod intersect;
mod maxscore;
pub mod parse;
pub mod query;
mod score_floor;
mod score_window;
pub mod scorer;
pub mod searcher;
mod union_count;
pub mod weight;
