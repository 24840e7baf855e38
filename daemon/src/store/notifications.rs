//! Attention cards: one open card per (block, type), raised again in place,
//! escalated by age, closed by acting, dismissing or the run moving on.

use super::{Result, Store, StoreError, codec, tx};
use cattery_protocol::{Millis, Notification, NotificationStatus, NotificationType, Severity};
use rusqlite::{Connection, OptionalExtension, Row, params};

const COLUMNS: &str =
    "id, type, status, severity, block_id, run_id, title, body, payload, created_at, resolved_at";

/// What a raise says; the store decides whether it is new or a re-raise.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCard {
    pub id: String,
    pub kind: NotificationType,
    pub block_id: String,
    pub run_id: Option<String>,
    pub title: String,
    pub body: String,
    pub payload: serde_json::Value,
}

impl Store {
    /// Applies many card changes in one transaction (a burst of runs costs
    /// one write, not one per run). Returns each change, in order.
    pub fn apply_cards(&self, ops: &[CardOp], now: Millis) -> Result<Vec<CardChange>> {
        self.writing(|conn| {
            tx::transaction(conn, |conn| {
                let mut changes = Vec::new();
                for op in ops {
                    match op {
                        CardOp::Close { block_id, kinds } => {
                            let closed =
                                close_in(conn, block_id, kinds, NotificationStatus::Acted, now)?;
                            changes.extend(closed.into_iter().map(CardChange::Closed));
                        }
                        CardOp::Raise(card) => changes.push(raise_in(conn, card, now)?),
                    }
                }
                Ok(changes)
            })
        })
    }

    /// Acts on or dismisses an open card; a closed one is refused as is.
    pub fn resolve_card(
        &self,
        id: &str,
        status: NotificationStatus,
        now: Millis,
    ) -> Result<Notification> {
        self.writing(|conn| {
            tx::transaction(conn, |conn| {
                let card = read_optional(conn, id)?.ok_or_else(|| StoreError::NotFound {
                    what: "notification",
                    id: id.to_owned(),
                })?;
                if card.status != NotificationStatus::Open {
                    return Err(StoreError::AlreadyClosed {
                        id: id.to_owned(),
                        status: codec::text(&card.status),
                    });
                }
                close(conn, id, status, now)
            })
        })
    }

    /// Open normal cards created at or before `cutoff` become urgent.
    pub fn escalate(&self, cutoff: Millis, now: Millis) -> Result<Vec<Notification>> {
        self.writing(|conn| escalate_in(conn, cutoff, now))
    }

    /// Open cards, oldest first; with `all`, every card, newest first.
    pub fn notifications(&self, all: bool) -> Result<Vec<Notification>> {
        notifications_on(&self.read(), all)
    }
}

fn escalate_in(conn: &Connection, cutoff: Millis, now: Millis) -> Result<Vec<Notification>> {
    let sql = format!(
        "UPDATE notifications SET severity = 'urgent', updated_at = ?2
             WHERE status = 'open' AND severity = 'normal' AND created_at <= ?1
             RETURNING {COLUMNS}"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::sql("escalate notifications"))?;
    let rows = stmt
        .query_map(params![cutoff, now], from_row)
        .map_err(StoreError::sql("escalate notifications"))?;
    collect(rows, "escalate notifications")
}

/// Open cards, oldest first (or every card, newest first), read on `conn`.
pub(super) fn notifications_on(conn: &Connection, all: bool) -> Result<Vec<Notification>> {
    let sql = match all {
        false => format!(
            "SELECT {COLUMNS} FROM notifications WHERE status = 'open' ORDER BY created_at, id"
        ),
        true => format!("SELECT {COLUMNS} FROM notifications ORDER BY created_at DESC, id"),
    };
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::sql("list notifications"))?;
    let rows = stmt
        .query_map([], from_row)
        .map_err(StoreError::sql("list notifications"))?;
    collect(rows, "list notifications")
}

/// One change to a block's cards.
#[derive(Debug, Clone, PartialEq)]
pub enum CardOp {
    /// Close (as acted on) the block's open cards of these kinds.
    Close {
        block_id: String,
        kinds: Vec<NotificationType>,
    },
    Raise(NewCard),
}

/// What a card operation did.
#[derive(Debug, Clone, PartialEq)]
pub enum CardChange {
    New(Notification),
    /// The open card was updated in place; severity and created-at kept.
    Updated(Notification),
    Closed(Notification),
}

/// Opens a card, or updates the open one for the same block and type.
fn raise_in(conn: &Connection, card: &NewCard, now: Millis) -> Result<CardChange> {
    match open_card(conn, &card.block_id, card.kind)? {
        Some(existing) => {
            update_in_place(conn, &existing.id, card)?;
            Ok(CardChange::Updated(read(conn, &existing.id)?))
        }
        None => {
            insert(conn, card, now)?;
            Ok(CardChange::New(read(conn, &card.id)?))
        }
    }
}

fn close_in(
    conn: &Connection,
    block_id: &str,
    kinds: &[NotificationType],
    status: NotificationStatus,
    now: Millis,
) -> Result<Vec<Notification>> {
    let mut closed = Vec::new();
    for kind in kinds {
        if let Some(card) = open_card(conn, block_id, *kind)? {
            closed.push(close(conn, &card.id, status, now)?);
        }
    }
    Ok(closed)
}

fn collect(
    rows: impl Iterator<Item = rusqlite::Result<Result<Notification>>>,
    context: &'static str,
) -> Result<Vec<Notification>> {
    let mut cards = Vec::new();
    for row in rows {
        cards.push(row.map_err(StoreError::sql(context))??);
    }
    Ok(cards)
}

fn open_card(
    conn: &Connection,
    block_id: &str,
    kind: NotificationType,
) -> Result<Option<Notification>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM notifications WHERE block_id = ?1 AND type = ?2 AND status = 'open'"
    );
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::sql("find an open notification"))?;
    let row = stmt
        .query_row(params![block_id, kind.as_str()], from_row)
        .optional()
        .map_err(StoreError::sql("find an open notification"))?;
    row.transpose()
}

fn insert(conn: &Connection, card: &NewCard, now: Millis) -> Result<()> {
    let sql = format!(
        "INSERT INTO notifications ({COLUMNS}, updated_at) VALUES (?1, ?2, 'open', 'normal', ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?8)"
    );
    conn.prepare_cached(&sql)
        .and_then(|mut stmt| {
            stmt.execute(params![
                card.id,
                card.kind.as_str(),
                card.block_id,
                card.run_id,
                card.title,
                card.body,
                card.payload.to_string(),
                now
            ])
        })
        .map_err(StoreError::sql("insert a notification"))?;
    Ok(())
}

fn update_in_place(conn: &Connection, id: &str, card: &NewCard) -> Result<()> {
    conn.prepare_cached(
        "UPDATE notifications SET run_id = ?2, title = ?3, body = ?4, payload = ?5 WHERE id = ?1",
    )
    .and_then(|mut stmt| {
        stmt.execute(params![
            id,
            card.run_id,
            card.title,
            card.body,
            card.payload.to_string()
        ])
    })
    .map_err(StoreError::sql("raise a notification again"))?;
    Ok(())
}

fn close(
    conn: &Connection,
    id: &str,
    status: NotificationStatus,
    now: Millis,
) -> Result<Notification> {
    conn.prepare_cached(
        "UPDATE notifications SET status = ?2, resolved_at = ?3, updated_at = ?3 WHERE id = ?1",
    )
    .and_then(|mut stmt| stmt.execute(params![id, codec::text(&status), now]))
    .map_err(StoreError::sql("close a notification"))?;
    read(conn, id)
}

fn read(conn: &Connection, id: &str) -> Result<Notification> {
    read_optional(conn, id)?.ok_or_else(|| StoreError::NotFound {
        what: "notification",
        id: id.to_owned(),
    })
}

fn read_optional(conn: &Connection, id: &str) -> Result<Option<Notification>> {
    let sql = format!("SELECT {COLUMNS} FROM notifications WHERE id = ?1");
    let mut stmt = conn
        .prepare_cached(&sql)
        .map_err(StoreError::sql("read a notification"))?;
    let row = stmt
        .query_row([id], from_row)
        .optional()
        .map_err(StoreError::sql("read a notification"))?;
    row.transpose()
}

fn from_row(row: &Row<'_>) -> rusqlite::Result<Result<Notification>> {
    let (kind, status, severity, payload): (String, String, String, String) =
        (row.get(1)?, row.get(2)?, row.get(3)?, row.get(8)?);
    let (id, block_id, run_id, title, body, created_at, resolved_at) = (
        row.get(0)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(9)?,
        row.get(10)?,
    );
    Ok(
        decode(&kind, &status, &severity, &payload).map(|(kind, status, severity, payload)| {
            Notification {
                id,
                kind,
                status,
                severity,
                block_id,
                run_id,
                title,
                body,
                payload,
                created_at,
                resolved_at,
            }
        }),
    )
}

type Decoded = (
    NotificationType,
    NotificationStatus,
    Severity,
    serde_json::Value,
);

fn decode(kind: &str, status: &str, severity: &str, payload: &str) -> Result<Decoded> {
    Ok((
        codec::parse(kind, "notification type")?,
        codec::parse(status, "notification status")?,
        codec::parse(severity, "notification severity")?,
        serde_json::from_str(payload).map_err(|source| StoreError::Decode {
            what: "notification payload",
            source,
        })?,
    ))
}
