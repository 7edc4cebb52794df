//! Webhook events: the catalogue of event types (the `alguna.webhooks` payload models of the
//! official SDK), the typed `data` payloads, the envelope `{type, timestamp, data}`, and endpoint
//! secrets.
//!
//! Code that changes state builds an [`Event`] and hands it to
//! `abacus_store::webhooks::enqueue_event` inside the transaction of the change (the outbox).
//! Field names are the SDK's JSON names (camelCase); instants are RFC 3339 with six fractional
//! digits; amounts are decimal strings.

use base64::Engine;
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::time::{Micros, format_micros};

/// The type of the event `POST /webhook-endpoints/{id}/test` sends. Not subscribable: it goes to
/// the endpoint it was asked for, whatever that endpoint's filter.
pub const TEST_EVENT: &str = "webhook.test";

/// One subscribable event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTypeInfo {
    /// `invoice.paid`.
    pub name: &'static str,
    /// The SDK's envelope model (`WebhookInvoicePaidPayload`).
    pub model: &'static str,
    /// The SDK's model of `data` (`InvoicePayload`).
    pub data_model: &'static str,
    pub description: &'static str,
}

macro_rules! catalogue {
    ($(($name:literal, $model:literal, $data:literal, $desc:literal)),* $(,)?) => {
        /// Every subscribable event type, in the order of the SDK's `alguna.webhooks` models.
        pub const EVENT_TYPES: &[EventTypeInfo] = &[
            $(EventTypeInfo { name: $name, model: $model, data_model: $data, description: $desc }),*
        ];
    };
}

catalogue!(
    (
        "account.credits.balance_depleted",
        "WebhookAccountCreditsBalanceDepletedPayload",
        "CreditBalancePayload",
        "A customer's credit balance reached zero."
    ),
    (
        "account.credits.granted",
        "WebhookAccountCreditsGrantedPayload",
        "CreditGrantedPayload",
        "Credits were granted to a customer."
    ),
    (
        "approval_flow.completed",
        "WebhookApprovalFlowCompletedPayload",
        "ApprovalFlowPayload",
        "An approval flow completed."
    ),
    (
        "approval_request.approved",
        "WebhookApprovalRequestApprovedPayload",
        "ApprovalRequestPayload",
        "An approval request was approved."
    ),
    (
        "approval_request.created",
        "WebhookApprovalRequestCreatedPayload",
        "ApprovalRequestPayload",
        "An approval request was created."
    ),
    (
        "approval_request.rejected",
        "WebhookApprovalRequestRejectedPayload",
        "ApprovalRequestPayload",
        "An approval request was rejected."
    ),
    (
        "checkout.session.completed",
        "WebhookCheckoutSessionCompletedPayload",
        "CheckoutSessionPayload",
        "A checkout session completed."
    ),
    (
        "invoice.issued",
        "WebhookInvoiceIssuedPayload",
        "InvoicePayload",
        "An invoice was issued."
    ),
    (
        "invoice.overdue",
        "WebhookInvoiceOverduePayload",
        "InvoicePayload",
        "An invoice became overdue."
    ),
    (
        "invoice.paid",
        "WebhookInvoicePaidPayload",
        "InvoicePayload",
        "An invoice was paid in full."
    ),
    (
        "lineitem.deleted",
        "WebhookLineitemDeletedPayload",
        "LineItemPayload",
        "An invoice line item was deleted."
    ),
    (
        "payment.created",
        "WebhookPaymentCreatedPayload",
        "PaymentPayload",
        "A payment was created."
    ),
    (
        "payment.updated",
        "WebhookPaymentUpdatedPayload",
        "PaymentPayload",
        "A payment changed."
    ),
    (
        "refund.updated",
        "WebhookRefundUpdatedPayload",
        "RefundPayload",
        "A refund changed."
    ),
    (
        "subscription.activated",
        "WebhookSubscriptionActivatedPayload",
        "SubscriptionPayload",
        "A subscription was activated."
    ),
    (
        "subscription.cancelation_reverted",
        "WebhookSubscriptionCancelationRevertedPayload",
        "SubscriptionPayload",
        "A scheduled cancelation was reverted."
    ),
    (
        "subscription.cancelation_scheduled",
        "WebhookSubscriptionCancelationScheduledPayload",
        "SubscriptionPayload",
        "A cancelation was scheduled."
    ),
    (
        "subscription.canceled",
        "WebhookSubscriptionCanceledPayload",
        "SubscriptionPayload",
        "A subscription was canceled."
    ),
    (
        "subscription.pause_scheduled",
        "WebhookSubscriptionPauseScheduledPayload",
        "SubscriptionPayload",
        "A pause was scheduled."
    ),
    (
        "subscription.pause_unscheduled",
        "WebhookSubscriptionPauseUnscheduledPayload",
        "SubscriptionPayload",
        "A scheduled pause was removed."
    ),
    (
        "subscription.paused",
        "WebhookSubscriptionPausedPayload",
        "SubscriptionPayload",
        "A subscription was paused."
    ),
    (
        "subscription.resumed",
        "WebhookSubscriptionResumedPayload",
        "SubscriptionPayload",
        "A subscription was resumed."
    ),
    (
        "subscription.started",
        "WebhookSubscriptionStartedPayload",
        "SubscriptionPayload",
        "A subscription started."
    ),
    (
        "subscription.updated",
        "WebhookSubscriptionUpdatedPayload",
        "SubscriptionPayload",
        "A subscription changed."
    ),
    (
        "subscription.version.updated",
        "WebhookSubscriptionVersionUpdatedPayload",
        "SubscriptionVersionPayload",
        "A subscription version changed."
    ),
);

/// The catalogue entry of `name`, if it is a subscribable type.
pub fn event_type(name: &str) -> Option<&'static EventTypeInfo> {
    EVENT_TYPES.iter().find(|t| t.name == name)
}

pub fn is_known(name: &str) -> bool {
    event_type(name).is_some()
}

fn ts<S: Serializer>(us: &Micros, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_micros(*us))
}

fn opt_ts<S: Serializer>(us: &Option<Micros>, s: S) -> Result<S::Ok, S::Error> {
    match us {
        Some(us) => s.serialize_str(&format_micros(*us)),
        None => s.serialize_none(),
    }
}

/// `InvoicePayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoicePayload {
    pub id: String,
    pub account_id: String,
    /// `draft`, `upcoming`, `pending_approval`, `scheduled`, `processing`, `issued`, `void`,
    /// `paid`, `canceled` or `overdue`.
    pub status: String,
    pub currency: String,
    pub description: String,
    pub total: Decimal,
    #[serde(serialize_with = "opt_ts", skip_serializing_if = "Option::is_none")]
    pub billing_period_start: Option<Micros>,
    #[serde(serialize_with = "opt_ts", skip_serializing_if = "Option::is_none")]
    pub billing_period_end: Option<Micros>,
    #[serde(serialize_with = "ts")]
    pub created_at: Micros,
    #[serde(serialize_with = "ts")]
    pub updated_at: Micros,
}

/// `SubscriptionPayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionPayload {
    pub id: String,
    pub account_id: String,
    pub name: String,
    /// `draft`, `active` or `canceled`.
    pub status: String,
    pub currency: String,
    #[serde(serialize_with = "opt_ts", skip_serializing_if = "Option::is_none")]
    pub activated_at: Option<Micros>,
    #[serde(serialize_with = "opt_ts", skip_serializing_if = "Option::is_none")]
    pub contract_start_date: Option<Micros>,
    #[serde(serialize_with = "opt_ts", skip_serializing_if = "Option::is_none")]
    pub contract_end_date: Option<Micros>,
    #[serde(serialize_with = "opt_ts", skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Micros>,
    #[serde(serialize_with = "ts")]
    pub created_at: Micros,
    #[serde(serialize_with = "ts")]
    pub updated_at: Micros,
}

/// `SubscriptionVersionPayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionVersionPayload {
    pub id: String,
    pub account_id: String,
    pub subscription_id: String,
    /// `draft` or `published`.
    pub status: String,
}

/// `PaymentAllocationPayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentAllocationPayload {
    pub invoice_id: String,
    pub amount: Decimal,
}

/// `PaymentPayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentPayload {
    pub id: String,
    pub account_id: String,
    pub amount: Decimal,
    pub currency: String,
    /// `processing`, `completed`, `failed`, `pending_authorization`, `pending_client_action` or
    /// `voided`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    pub allocations: Vec<PaymentAllocationPayload>,
    #[serde(serialize_with = "ts")]
    pub created_at: Micros,
    #[serde(serialize_with = "ts")]
    pub updated_at: Micros,
}

/// `RefundPayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundPayload {
    pub id: String,
    pub account_id: String,
    pub amount: Decimal,
    pub currency: String,
    /// `pending`, `succeeded`, `failed` or `canceled`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prev_status: Option<String>,
    /// `stripe`, `orum`, `forward`, `primer`, `offline_payment` or `alguna_wallet`.
    pub processor_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub processor_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit_note_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
    pub allocations: Vec<PaymentAllocationPayload>,
    #[serde(serialize_with = "ts")]
    pub created_at: Micros,
    #[serde(serialize_with = "ts")]
    pub updated_at: Micros,
}

/// `LineItemPayload` (its `status` is always `deleted`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineItemPayload {
    pub id: String,
    pub invoice_id: String,
    pub status: &'static str,
}

impl LineItemPayload {
    pub fn deleted(id: impl Into<String>, invoice_id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            invoice_id: invoice_id.into(),
            status: "deleted",
        }
    }
}

/// `CreditGrantedPayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditGrantedPayload {
    pub account_id: String,
    pub grant_id: String,
    pub amount: Decimal,
    /// `monetary` or `units`.
    #[serde(rename = "type")]
    pub kind: String,
    pub reason: String,
}

/// `CreditBalancePayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreditBalancePayload {
    pub account_id: String,
    pub amount: Decimal,
    /// `monetary` or `units`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `CheckoutSessionPayload` (its `status` is always `completed`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutSessionPayload {
    pub id: String,
    pub account_id: String,
    pub currency: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Decimal>,
    pub payment_id: String,
    pub pass_through_token: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_reference_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    pub status: &'static str,
}

/// `ApprovalSubject`: the record under approval.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalSubject {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
}

/// `ApprovalFlowPayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalFlowPayload {
    pub id: String,
    pub scenario: String,
    /// `approved`, `rejected` or `canceled`.
    pub status: String,
    pub outcome_status: String,
    pub subject: ApprovalSubject,
    pub subscription_id: String,
    pub subscription_version_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(serialize_with = "opt_ts", skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Micros>,
    #[serde(serialize_with = "ts")]
    pub created_at: Micros,
    #[serde(serialize_with = "ts")]
    pub updated_at: Micros,
}

/// `ApprovalRequestPayload`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalRequestPayload {
    pub id: String,
    pub approval_flow_id: String,
    pub approver_email: String,
    pub approver_name: String,
    pub rule_name: String,
    pub scenario: String,
    /// `pending`, `approved`, `rejected` or `canceled`.
    pub status: String,
    pub outcome_status: String,
    pub subject: ApprovalSubject,
    pub subscription_id: String,
    pub subscription_version_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quote_id: Option<String>,
    #[serde(serialize_with = "opt_ts", skip_serializing_if = "Option::is_none")]
    pub decision_made_at: Option<Micros>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision_reason: Option<String>,
    #[serde(serialize_with = "ts")]
    pub created_at: Micros,
    #[serde(serialize_with = "ts")]
    pub updated_at: Micros,
}

/// The `data` of the test event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestPayload {
    pub endpoint_id: String,
    pub message: String,
}

/// An event with its typed payload: what state-changing code hands to the outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    AccountCreditsBalanceDepleted(CreditBalancePayload),
    AccountCreditsGranted(CreditGrantedPayload),
    ApprovalFlowCompleted(ApprovalFlowPayload),
    ApprovalRequestApproved(ApprovalRequestPayload),
    ApprovalRequestCreated(ApprovalRequestPayload),
    ApprovalRequestRejected(ApprovalRequestPayload),
    CheckoutSessionCompleted(CheckoutSessionPayload),
    InvoiceIssued(InvoicePayload),
    InvoiceOverdue(InvoicePayload),
    InvoicePaid(InvoicePayload),
    LineItemDeleted(LineItemPayload),
    PaymentCreated(PaymentPayload),
    PaymentUpdated(PaymentPayload),
    RefundUpdated(RefundPayload),
    SubscriptionActivated(SubscriptionPayload),
    SubscriptionCancelationReverted(SubscriptionPayload),
    SubscriptionCancelationScheduled(SubscriptionPayload),
    SubscriptionCanceled(SubscriptionPayload),
    SubscriptionPauseScheduled(SubscriptionPayload),
    SubscriptionPauseUnscheduled(SubscriptionPayload),
    SubscriptionPaused(SubscriptionPayload),
    SubscriptionResumed(SubscriptionPayload),
    SubscriptionStarted(SubscriptionPayload),
    SubscriptionUpdated(SubscriptionPayload),
    SubscriptionVersionUpdated(SubscriptionVersionPayload),
    /// The signed test event of `POST /webhook-endpoints/{id}/test`.
    Test(TestPayload),
}

impl Event {
    /// The event type (`invoice.paid`).
    pub fn event_type(&self) -> &'static str {
        use Event::*;
        match self {
            AccountCreditsBalanceDepleted(_) => "account.credits.balance_depleted",
            AccountCreditsGranted(_) => "account.credits.granted",
            ApprovalFlowCompleted(_) => "approval_flow.completed",
            ApprovalRequestApproved(_) => "approval_request.approved",
            ApprovalRequestCreated(_) => "approval_request.created",
            ApprovalRequestRejected(_) => "approval_request.rejected",
            CheckoutSessionCompleted(_) => "checkout.session.completed",
            InvoiceIssued(_) => "invoice.issued",
            InvoiceOverdue(_) => "invoice.overdue",
            InvoicePaid(_) => "invoice.paid",
            LineItemDeleted(_) => "lineitem.deleted",
            PaymentCreated(_) => "payment.created",
            PaymentUpdated(_) => "payment.updated",
            RefundUpdated(_) => "refund.updated",
            SubscriptionActivated(_) => "subscription.activated",
            SubscriptionCancelationReverted(_) => "subscription.cancelation_reverted",
            SubscriptionCancelationScheduled(_) => "subscription.cancelation_scheduled",
            SubscriptionCanceled(_) => "subscription.canceled",
            SubscriptionPauseScheduled(_) => "subscription.pause_scheduled",
            SubscriptionPauseUnscheduled(_) => "subscription.pause_unscheduled",
            SubscriptionPaused(_) => "subscription.paused",
            SubscriptionResumed(_) => "subscription.resumed",
            SubscriptionStarted(_) => "subscription.started",
            SubscriptionUpdated(_) => "subscription.updated",
            SubscriptionVersionUpdated(_) => "subscription.version.updated",
            Test(_) => TEST_EVENT,
        }
    }

    /// The `data` object.
    pub fn data(&self) -> Value {
        use Event::*;
        let v = match self {
            AccountCreditsBalanceDepleted(p) => serde_json::to_value(p),
            AccountCreditsGranted(p) => serde_json::to_value(p),
            ApprovalFlowCompleted(p) => serde_json::to_value(p),
            ApprovalRequestApproved(p) | ApprovalRequestCreated(p) | ApprovalRequestRejected(p) => {
                serde_json::to_value(p)
            }
            CheckoutSessionCompleted(p) => serde_json::to_value(p),
            InvoiceIssued(p) | InvoiceOverdue(p) | InvoicePaid(p) => serde_json::to_value(p),
            LineItemDeleted(p) => serde_json::to_value(p),
            PaymentCreated(p) | PaymentUpdated(p) => serde_json::to_value(p),
            RefundUpdated(p) => serde_json::to_value(p),
            SubscriptionActivated(p)
            | SubscriptionCancelationReverted(p)
            | SubscriptionCancelationScheduled(p)
            | SubscriptionCanceled(p)
            | SubscriptionPauseScheduled(p)
            | SubscriptionPauseUnscheduled(p)
            | SubscriptionPaused(p)
            | SubscriptionResumed(p)
            | SubscriptionStarted(p)
            | SubscriptionUpdated(p) => serde_json::to_value(p),
            SubscriptionVersionUpdated(p) => serde_json::to_value(p),
            Test(p) => serde_json::to_value(p),
        };
        v.expect("webhook payloads always serialize")
    }

    /// An example of every subscribable event type, in catalogue order (documentation and tests).
    pub fn samples(at: Micros) -> Vec<Event> {
        use Event::*;
        let invoice = |status: &str| InvoicePayload {
            id: "inv00001".into(),
            account_id: "ywgWhtGp".into(),
            status: status.into(),
            currency: "USD".into(),
            description: "Invoice for November".into(),
            total: Decimal::new(12_345, 2),
            billing_period_start: Some(at - 30 * 86_400_000_000),
            billing_period_end: Some(at),
            created_at: at,
            updated_at: at,
        };
        let sub = |status: &str| SubscriptionPayload {
            id: "sub00001".into(),
            account_id: "ywgWhtGp".into(),
            name: "Pro".into(),
            status: status.into(),
            currency: "USD".into(),
            activated_at: Some(at),
            contract_start_date: Some(at),
            contract_end_date: None,
            ended_at: None,
            created_at: at,
            updated_at: at,
        };
        let subject = || ApprovalSubject {
            id: "sub00001".into(),
            kind: "subscription".into(),
        };
        let request = |status: &str| ApprovalRequestPayload {
            id: "apr00001".into(),
            approval_flow_id: "apf00001".into(),
            approver_email: "cfo@example.com".into(),
            approver_name: "Casey".into(),
            rule_name: "Discount above 20%".into(),
            scenario: "subscription_version".into(),
            status: status.into(),
            outcome_status: "pending".into(),
            subject: subject(),
            subscription_id: "sub00001".into(),
            subscription_version_id: "sbv00001".into(),
            quote_id: None,
            decision_made_at: None,
            decision_reason: None,
            created_at: at,
            updated_at: at,
        };
        let allocation = PaymentAllocationPayload {
            invoice_id: "inv00001".into(),
            amount: Decimal::new(12_345, 2),
        };
        let payment = |status: &str| PaymentPayload {
            id: "pay00001".into(),
            account_id: "ywgWhtGp".into(),
            amount: Decimal::new(12_345, 2),
            currency: "USD".into(),
            status: status.into(),
            invoice_id: Some("inv00001".into()),
            allocations: vec![allocation.clone()],
            created_at: at,
            updated_at: at,
        };
        vec![
            AccountCreditsBalanceDepleted(CreditBalancePayload {
                account_id: "ywgWhtGp".into(),
                amount: Decimal::ZERO,
                kind: "monetary".into(),
            }),
            AccountCreditsGranted(CreditGrantedPayload {
                account_id: "ywgWhtGp".into(),
                grant_id: "grt00001".into(),
                amount: Decimal::new(5000, 2),
                kind: "monetary".into(),
                reason: "Welcome credit".into(),
            }),
            ApprovalFlowCompleted(ApprovalFlowPayload {
                id: "apf00001".into(),
                scenario: "subscription_version".into(),
                status: "approved".into(),
                outcome_status: "executed".into(),
                subject: subject(),
                subscription_id: "sub00001".into(),
                subscription_version_id: "sbv00001".into(),
                quote_id: None,
                reason: None,
                completed_at: Some(at),
                created_at: at,
                updated_at: at,
            }),
            ApprovalRequestApproved(request("approved")),
            ApprovalRequestCreated(request("pending")),
            ApprovalRequestRejected(request("rejected")),
            CheckoutSessionCompleted(CheckoutSessionPayload {
                id: "chk00001".into(),
                account_id: "ywgWhtGp".into(),
                currency: "USD".into(),
                amount: Some(Decimal::new(12_345, 2)),
                payment_id: "pay00001".into(),
                pass_through_token: "tok_123".into(),
                client_reference_id: None,
                invoice_id: Some("inv00001".into()),
                subscription_id: None,
                status: "completed",
            }),
            InvoiceIssued(invoice("issued")),
            InvoiceOverdue(invoice("overdue")),
            InvoicePaid(invoice("paid")),
            LineItemDeleted(LineItemPayload::deleted("lin00001", "inv00001")),
            PaymentCreated(payment("processing")),
            PaymentUpdated(payment("completed")),
            RefundUpdated(RefundPayload {
                id: "ref00001".into(),
                account_id: "ywgWhtGp".into(),
                amount: Decimal::new(1000, 2),
                currency: "USD".into(),
                status: "succeeded".into(),
                prev_status: Some("pending".into()),
                processor_name: "offline_payment".into(),
                processor_id: None,
                invoice_id: Some("inv00001".into()),
                credit_note_id: None,
                external_id: None,
                failure_reason: None,
                allocations: vec![allocation.clone()],
                created_at: at,
                updated_at: at,
            }),
            SubscriptionActivated(sub("active")),
            SubscriptionCancelationReverted(sub("active")),
            SubscriptionCancelationScheduled(sub("active")),
            SubscriptionCanceled(SubscriptionPayload {
                ended_at: Some(at),
                ..sub("canceled")
            }),
            SubscriptionPauseScheduled(sub("active")),
            SubscriptionPauseUnscheduled(sub("active")),
            SubscriptionPaused(sub("active")),
            SubscriptionResumed(sub("active")),
            SubscriptionStarted(sub("active")),
            SubscriptionUpdated(sub("active")),
            SubscriptionVersionUpdated(SubscriptionVersionPayload {
                id: "sbv00001".into(),
                account_id: "ywgWhtGp".into(),
                subscription_id: "sub00001".into(),
                status: "published".into(),
            }),
        ]
    }
}

/// The body of a webhook: `{"type", "timestamp", "data"}` in that order, compact JSON. These
/// exact bytes are stored, signed and sent on every attempt.
pub fn envelope(event_type: &str, timestamp: Micros, data: &Value) -> String {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), Value::String(event_type.into()));
    m.insert("timestamp".into(), Value::String(format_micros(timestamp)));
    m.insert("data".into(), data.clone());
    Value::Object(m).to_string()
}

/// Random bytes in a new endpoint secret.
pub const SECRET_BYTES: usize = 32;

/// A new endpoint signing secret: `whsec_` + standard base64 of 32 random bytes (the format of
/// Svix and the Standard Webhooks libraries).
pub fn new_secret() -> String {
    let bytes: [u8; SECRET_BYTES] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// The key bytes of a `whsec_` secret.
pub fn secret_key(secret: &str) -> Option<Vec<u8>> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD.decode(b64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_cover_the_catalogue_in_order() {
        let samples = Event::samples(0);
        let names: Vec<&str> = samples.iter().map(Event::event_type).collect();
        let catalogue: Vec<&str> = EVENT_TYPES.iter().map(|t| t.name).collect();
        assert_eq!(names, catalogue);
        assert!(!is_known(TEST_EVENT));
        assert!(is_known("invoice.paid"));
    }

    #[test]
    fn envelope_is_type_timestamp_data() {
        let e = Event::InvoicePaid(match &Event::samples(0)[9] {
            Event::InvoicePaid(p) => p.clone(),
            _ => unreachable!(),
        });
        let body = envelope(e.event_type(), 1_700_000_000_000_000, &e.data());
        assert!(body.starts_with(
            r#"{"type":"invoice.paid","timestamp":"2023-11-14T22:13:20.000000Z","data":{"id":"inv00001","accountId":"#
        ), "{body}");
        assert!(body.contains(r#""total":"123.45""#), "{body}");
    }

    #[test]
    fn secrets_are_whsec_base64_of_32_bytes() {
        let s = new_secret();
        assert!(s.starts_with("whsec_"));
        assert_eq!(secret_key(&s).unwrap().len(), 32);
        assert_ne!(s, new_secret());
    }
}
