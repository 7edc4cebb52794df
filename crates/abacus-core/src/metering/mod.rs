//! Usage metering: what a valid event is, what a billable metric counts, and how usage over any
//! interval is aggregated exactly from hourly rollups plus the raw events at the edges.

pub mod bucket;
pub mod deltas;
pub mod event;
pub mod metric;
pub mod properties;
pub mod usage;
pub mod window;

pub use bucket::{Bucket, Latest};
pub use event::{EventFields, EventLimits, RejectedEvent, ValidEvent};
pub use metric::{
    Aggregation, AggregationMethod, Contribution, Filter, FilterGroup, FilterOp, GroupOp, Metric,
    MetricDraft,
};
pub use properties::{PropValue, Properties};
