//! Renderers for verification results: plain text for people, JSON for tools, SARIF 2.1.0 for
//! code-scanning dashboards.

pub mod json;
pub mod sarif;
pub mod text;
