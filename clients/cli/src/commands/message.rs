//! `sessionctl send`, `conversations`, `messages [--follow]` and `network`.

use super::Daemon;
use crate::error::CliError;
use crate::output::{self, Mode};
use sessiond_ipc::methods::{ConversationList, MessageList, MessageSend, NetworkStatus};
use sessiond_ipc::types::{
    AccountScope, ListMessagesParams, MessageInfo, NoParams, SendMessageParams,
};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::time::Duration;

/// Largest text read from stdin for `send -` (the daemon refuses longer messages anyway).
const MAX_STDIN_TEXT: u64 = 64 * 1024;
/// How often `messages --follow` asks for news.
const FOLLOW_INTERVAL: Duration = Duration::from_millis(500);

/// `sessionctl send TO TEXT|-`
pub async fn send(
    daemon: &mut Daemon,
    mode: Mode,
    account_id: Option<String>,
    to: String,
    text: String,
) -> Result<String, CliError> {
    let text = if text == "-" {
        let mut buf = String::new();
        std::io::stdin()
            .take(MAX_STDIN_TEXT)
            .read_to_string(&mut buf)
            .map_err(|e| CliError::io("reading the message from stdin", &e))?;
        buf.trim_end_matches(['\n', '\r']).to_owned()
    } else {
        text
    };
    let sent = daemon
        .call::<MessageSend>(&SendMessageParams {
            account_id,
            to,
            text,
        })
        .await?;
    Ok(output::sent(mode, &sent))
}

/// `sessionctl conversations`
pub async fn conversations(
    daemon: &mut Daemon,
    mode: Mode,
    account_id: Option<String>,
) -> Result<String, CliError> {
    let list = daemon
        .call::<ConversationList>(&AccountScope { account_id })
        .await?;
    Ok(output::conversations(mode, &list))
}

/// `sessionctl messages PEER [--follow]`
pub async fn messages(
    daemon: &mut Daemon,
    mode: Mode,
    account_id: Option<String>,
    peer: String,
    limit: u32,
    before: Option<i64>,
    follow: bool,
) -> Result<String, CliError> {
    let params = ListMessagesParams {
        account_id: account_id.clone(),
        conversation: peer.clone(),
        before,
        limit: Some(limit),
    };
    let mut page = daemon.call::<MessageList>(&params).await?;
    page.reverse(); // oldest first, like a chat
    if !follow {
        return Ok(output::messages(mode, &page));
    }
    // Follow: print what we have, then what changes. Every message printed is remembered with
    // its state, so a state change (pending → sent) is printed again.
    let mut seen: HashMap<i64, sessiond_ipc::types::MessageState> = HashMap::new();
    let mut out = std::io::stdout();
    let emit = |out: &mut std::io::Stdout, msgs: &[MessageInfo]| -> Result<bool, CliError> {
        let text = output::messages(mode, msgs);
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
            Err(e) => Err(CliError::io("writing to stdout", &e)),
        }
    };
    for m in &page {
        seen.insert(m.id, m.state);
    }
    if !emit(&mut out, &page)? {
        return Ok(String::new());
    }
    loop {
        tokio::time::sleep(FOLLOW_INTERVAL).await;
        let params = ListMessagesParams {
            account_id: account_id.clone(),
            conversation: peer.clone(),
            before: None,
            limit: Some(200),
        };
        let mut latest = daemon.call::<MessageList>(&params).await?;
        latest.reverse();
        let news: Vec<MessageInfo> = latest
            .into_iter()
            .filter(|m| seen.get(&m.id) != Some(&m.state))
            .collect();
        for m in &news {
            seen.insert(m.id, m.state);
        }
        if !news.is_empty() && !emit(&mut out, &news)? {
            return Ok(String::new());
        }
    }
}

/// `sessionctl network`
pub async fn network(daemon: &mut Daemon, mode: Mode) -> Result<String, CliError> {
    let status = daemon.call::<NetworkStatus>(&NoParams {}).await?;
    Ok(output::network(mode, &status))
}
