//! `message.*` and `conversation.*`: send, list messages, list conversations.

use crate::api::api_error;
use crate::service::Service;
use crate::store::{ConversationKind, Direction, MessageRow, MessageState};
use sessiond_ipc::ApiError;
use sessiond_ipc::types::{
    AccountScope, ConversationInfo, ListMessagesParams, MessageInfo, SendMessageParams, SentMessage,
};

/// Default and largest page of `message.list`.
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

fn state(s: MessageState) -> sessiond_ipc::types::MessageState {
    match s {
        MessageState::Pending => sessiond_ipc::types::MessageState::Pending,
        MessageState::Sent => sessiond_ipc::types::MessageState::Sent,
        MessageState::Failed => sessiond_ipc::types::MessageState::Failed,
        MessageState::Received => sessiond_ipc::types::MessageState::Received,
    }
}

/// The wire form of a message.
pub fn to_wire(m: &MessageRow) -> MessageInfo {
    MessageInfo {
        id: m.id,
        conversation: m.peer.clone(),
        direction: match m.direction {
            Direction::In => "in",
            Direction::Out => "out",
        }
        .to_owned(),
        sender: m.sender.clone(),
        sent_at_ms: m.sent_at_ms,
        received_at_ms: m.received_at_ms,
        text: m.body.clone(),
        state: state(m.state),
    }
}

/// `message.send`
pub async fn send(svc: &Service, p: SendMessageParams) -> Result<SentMessage, ApiError> {
    svc.touch_interest();
    let (id, sent_at_ms) = svc
        .send_message(p.account_id.as_deref(), &p.to, &p.text)
        .await
        .map_err(|e| api_error(&e))?;
    Ok(SentMessage {
        id,
        sent_at_ms,
        state: sessiond_ipc::types::MessageState::Pending,
    })
}

/// `message.list`
pub async fn list(svc: &Service, p: ListMessagesParams) -> Result<Vec<MessageInfo>, ApiError> {
    svc.touch_attention();
    let limit = p.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let rows = svc
        .list_messages(p.account_id.as_deref(), &p.conversation, p.before, limit)
        .await
        .map_err(|e| api_error(&e))?;
    Ok(rows.iter().map(to_wire).collect())
}

/// `conversation.list`
pub async fn conversations(
    svc: &Service,
    p: AccountScope,
) -> Result<Vec<ConversationInfo>, ApiError> {
    svc.touch_interest();
    let rows = svc
        .list_conversations(p.account_id.as_deref())
        .await
        .map_err(|e| api_error(&e))?;
    Ok(rows
        .into_iter()
        .map(|c| ConversationInfo {
            peer: c.peer,
            kind: match c.kind {
                ConversationKind::Direct => "direct",
                ConversationKind::NoteToSelf => "note_to_self",
            }
            .to_owned(),
            unread_count: c.unread_count,
            last_message_at_ms: c.last_message_at_ms,
            last_preview: c.last_preview,
        })
        .collect())
}
