//! The pricing engine. (In progress.)
