//! Stand-ins for the services notification channels post to: a signed-webhook receiver, Slack,
//! Microsoft Teams (Workflows), Discord, Mattermost, ntfy and Telegram's Bot API, each answering
//! its published contract (`contracts`): the request shape it checks, its credential, its limits
//! and its own error bodies. Faults on demand: rate limiting in the service's own form, down
//! (503), and holding a request unanswered. Loopback only, plain HTTP (`StandIn`).
//! Invariant: a message is in `delivered()` exactly when the stand-in answered it with the
//! service's success, and it is recorded before that answer is written.

mod contracts;

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use certautopilot_core::crypto::SecretBytes;

use super::{StandIn, StandInAnswer, StandInRequest};
use crate::notify::Channel;

/// Which service a stand-in plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatService {
    Webhook,
    Slack,
    Teams,
    Discord,
    Mattermost,
    Ntfy,
    Telegram,
}

impl fmt::Display for ChatService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChatService::Webhook => "webhook",
            ChatService::Slack => "slack",
            ChatService::Teams => "teams",
            ChatService::Discord => "discord",
            ChatService::Mattermost => "mattermost",
            ChatService::Ntfy => "ntfy",
            ChatService::Telegram => "telegram",
        })
    }
}

/// What a stand-in does to a request instead of serving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatFault {
    /// 429 in the service's own form, asking to wait this long: `Retry-After` (whole seconds,
    /// rounded up) for the webhook receiver, Slack, Teams and Mattermost; Discord's JSON
    /// `retry_after` (seconds, fractional) and the header; Telegram's `parameters.retry_after`
    /// only. ntfy states no wait: its 429 is `{"code":42901,…}` alone.
    RateLimited(Duration),
    /// 503 with an HTML page, as a proxy in front of a service that is down answers.
    Down,
    /// The request is read and recorded, then its answer waits until `release()` or until the
    /// fault is cleared or replaced (at most a minute); then it is served normally.
    Hold,
}

/// A message the stand-in accepted.
#[derive(Debug, Clone)]
pub struct ChatDelivery {
    pub service: ChatService,
    /// What a person would read, in the order shown: subject or title first, then the text, one
    /// field per line, as sent (Slack's entities not decoded; ntfy's title decoded).
    pub shown: String,
    pub request: StandInRequest,
}

/// An answer the stand-in gave, for asserting what must not be repeated from it.
#[derive(Debug, Clone)]
pub struct ChatAnswer {
    pub status: u16,
    pub body: String,
}

/// The account and the one hook, chat or topic a stand-in serves.
struct Contract {
    service: ChatService,
    /// The path (and query) of the one hook, for the services whose URL is the credential and the
    /// webhook receiver.
    hook: String,
    /// The HMAC secret (webhook), the access token (ntfy, empty for an open topic), the bot token
    /// (Telegram), or the hook's secret part.
    secret: String,
    /// ntfy's topic.
    topic: String,
    /// Telegram chats the bot is in.
    chats: Vec<String>,
}

#[derive(Default)]
struct State {
    fault: Option<ChatFault>,
    next: VecDeque<ChatFault>,
    /// Bumped by `release()` and by every fault change: a held request waits for it to move.
    generation: u64,
    blocked_chats: Vec<String>,
    delivered: Vec<ChatDelivery>,
    answers: Vec<ChatAnswer>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    delivered_count: tokio::sync::watch::Sender<usize>,
}

/// One stand-in service on 127.0.0.1.
pub struct ChatStandIn {
    server: StandIn,
    contract: Arc<Contract>,
    shared: Arc<Shared>,
}

/// The longest a held request waits for `release()`.
const HOLD_LIMIT: Duration = Duration::from_secs(60);

impl ChatStandIn {
    /// A receiver at `/hooks/certautopilot` checking the HMAC signature with `secret`.
    pub fn webhook(secret: &str) -> ChatStandIn {
        Self::start(ChatService::Webhook, "/hooks/certautopilot".into(), secret.into(), "", &[])
    }

    /// An incoming webhook at `/services/T…/B…/<token>`.
    pub fn slack() -> ChatStandIn {
        let token = random_text(24, ALNUM);
        Self::start(ChatService::Slack, format!("/services/T0CAPTEST/B0CAPTEST/{token}"), token, "", &[])
    }

    /// A Workflows trigger URL, its `sig` query parameter the credential.
    pub fn teams() -> ChatStandIn {
        let (workflow, sig) = (random_text(32, HEX), random_text(43, ALNUM));
        let hook = format!(
            "/workflows/{workflow}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={sig}"
        );
        Self::start(ChatService::Teams, hook, sig, "", &[])
    }

    /// A webhook at `/api/webhooks/<id>/<token>`.
    pub fn discord() -> ChatStandIn {
        let (id, token) = (random_text(18, DIGITS), random_text(68, ALNUM));
        Self::start(ChatService::Discord, format!("/api/webhooks/{id}/{token}"), token, "", &[])
    }

    /// An incoming webhook at `/hooks/<id>`.
    pub fn mattermost() -> ChatStandIn {
        let id = random_text(26, LOWER_ALNUM);
        Self::start(ChatService::Mattermost, format!("/hooks/{id}"), id, "", &[])
    }

    /// A server with `topic`; with a token, the topic is protected and publishing needs
    /// `Authorization: Bearer <token>`.
    pub fn ntfy(topic: &str, token: Option<&str>) -> ChatStandIn {
        Self::start(ChatService::Ntfy, String::new(), token.unwrap_or_default().into(), topic, &[])
    }

    /// The Bot API for the bot with `token` (`<id>:<secret>`), which is in `chats`.
    pub fn telegram(token: &str, chats: &[&str]) -> ChatStandIn {
        Self::start(ChatService::Telegram, String::new(), token.into(), "", chats)
    }

    fn start(service: ChatService, hook: String, secret: String, topic: &str, chats: &[&str]) -> ChatStandIn {
        let contract = Arc::new(Contract {
            service,
            hook,
            secret,
            topic: topic.to_owned(),
            chats: chats.iter().map(|c| (*c).to_owned()).collect(),
        });
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            changed: Condvar::new(),
            delivered_count: tokio::sync::watch::Sender::new(0),
        });
        let (served, state) = (contract.clone(), shared.clone());
        let server = StandIn::start_answering(move |request| serve(&served, &state, request));
        ChatStandIn { server, contract, shared }
    }

    pub fn service(&self) -> ChatService {
        self.contract.service
    }

    /// The setting a channel takes: the hook URL (webhook, Slack, Teams, Discord, Mattermost),
    /// the server (ntfy) or the API base (Telegram).
    pub fn url(&self) -> String {
        format!("{}{}", self.server.url(), self.contract.hook)
    }

    /// A channel that sends here with the credential the stand-in accepts (Telegram: to its first
    /// chat).
    pub fn channel(&self) -> Channel {
        self.channel_with(&self.contract.secret)
    }

    /// The same channel with a credential the service refuses: another secret (webhook), another
    /// hook token (Slack 403, Teams 401, Discord 401), another hook (Mattermost 400), another
    /// access token (ntfy 401), another bot secret (Telegram 401).
    pub fn refused_channel(&self) -> Channel {
        let wrong = match self.contract.service {
            ChatService::Telegram => {
                let id = self.contract.secret.split(':').next().unwrap_or("1");
                format!("{id}:{}", random_text(35, ALNUM))
            }
            ChatService::Discord => random_text(68, ALNUM),
            ChatService::Mattermost => random_text(26, LOWER_ALNUM),
            _ => random_text(self.contract.secret.len().max(24), ALNUM),
        };
        self.channel_with(&wrong)
    }

    fn channel_with(&self, secret: &str) -> Channel {
        let c = &self.contract;
        let hook_url = || SecretBytes::from_text(&self.url().replace(&c.secret, secret));
        match c.service {
            ChatService::Webhook => {
                Channel::Webhook { url: self.url(), secret: SecretBytes::from_text(secret), trusted_roots_pem: None }
            }
            ChatService::Slack => Channel::Slack { url: hook_url() },
            ChatService::Teams => Channel::Teams { url: hook_url() },
            ChatService::Discord => Channel::Discord { url: hook_url() },
            ChatService::Mattermost => Channel::Mattermost { url: hook_url() },
            ChatService::Ntfy => Channel::Ntfy {
                server: self.server.url(),
                topic: c.topic.clone(),
                token: (!secret.is_empty()).then(|| SecretBytes::from_text(secret)),
            },
            ChatService::Telegram => Channel::Telegram {
                api_base: self.server.url(),
                chat_id: c.chats.first().cloned().unwrap_or_default(),
                bot_token: SecretBytes::from_text(secret),
            },
        }
    }

    /// Texts that must never appear in an error or a log line: the credential, and the URL when
    /// it is the credential.
    pub fn secrets(&self) -> Vec<String> {
        let c = &self.contract;
        let mut secrets = vec![c.secret.clone()];
        if matches!(c.service, ChatService::Slack | ChatService::Teams | ChatService::Discord | ChatService::Mattermost)
        {
            secrets.extend([self.url(), c.hook.clone()]);
        }
        secrets.retain(|s| !s.is_empty());
        secrets
    }

    /// Every request that arrived, served or not.
    pub fn requests(&self) -> Vec<StandInRequest> {
        self.server.requests()
    }

    /// The messages accepted, in order.
    pub fn delivered(&self) -> Vec<ChatDelivery> {
        self.shared.state.lock().unwrap().delivered.clone()
    }

    /// Every answer given, in order.
    pub fn answers(&self) -> Vec<ChatAnswer> {
        self.shared.state.lock().unwrap().answers.clone()
    }

    /// Waits until at least `n` messages were accepted, for at most `within`.
    pub async fn wait_delivered(&self, n: usize, within: Duration) -> Result<Vec<ChatDelivery>, String> {
        let mut count = self.shared.delivered_count.subscribe();
        match tokio::time::timeout(within, count.wait_for(|c| *c >= n)).await {
            Ok(Ok(_)) => Ok(self.delivered()),
            _ => Err(format!(
                "the {} stand-in accepted {} message(s) within {within:?}, {n} expected",
                self.contract.service,
                self.delivered().len()
            )),
        }
    }

    /// Every request from now on gets `fault` (`None`: served normally again); held requests are
    /// let go.
    pub fn set_fault(&self, fault: Option<ChatFault>) {
        self.change(|s| s.fault = fault);
    }

    /// The next request (after those already queued) gets `fault`, once.
    pub fn fail_next(&self, fault: ChatFault) {
        self.change(|s| s.next.push_back(fault));
    }

    /// Lets every held request go on to be served.
    pub fn release(&self) {
        self.change(|_| {});
    }

    /// Telegram: the user behind `chat` blocked the bot (403).
    pub fn block_chat(&self, chat: &str) {
        self.change(|s| s.blocked_chats.push(chat.to_owned()));
    }

    fn change(&self, f: impl FnOnce(&mut State)) {
        let mut state = self.shared.state.lock().unwrap();
        f(&mut state);
        state.generation += 1;
        self.shared.changed.notify_all();
    }
}

impl Drop for ChatStandIn {
    /// Held requests are let go, so no thread waits for a test that has ended.
    fn drop(&mut self) {
        self.set_fault(None);
    }
}

fn serve(contract: &Contract, shared: &Shared, request: &StandInRequest) -> StandInAnswer {
    let answer = answer(contract, shared, request);
    let body = match &answer.raw {
        Some(raw) => raw.1.clone(),
        None if answer.status == 204 => String::new(),
        None => answer.body.to_string(),
    };
    shared.state.lock().unwrap().answers.push(ChatAnswer { status: answer.status, body });
    answer
}

fn answer(contract: &Contract, shared: &Shared, request: &StandInRequest) -> StandInAnswer {
    let fault = {
        let mut state = shared.state.lock().unwrap();
        let fault = state.next.pop_front().or(state.fault);
        if fault == Some(ChatFault::Hold) {
            let held_at = state.generation;
            state = shared.changed.wait_timeout_while(state, HOLD_LIMIT, |s| s.generation == held_at).unwrap().0;
        }
        drop(state);
        fault
    };
    match fault {
        Some(ChatFault::RateLimited(wait)) => return contracts::rate_limited(contract.service, wait),
        Some(ChatFault::Down) => return contracts::down(),
        Some(ChatFault::Hold) | None => {}
    }
    let blocked = shared.state.lock().unwrap().blocked_chats.clone();
    match contracts::check(contract, &blocked, request) {
        Ok((shown, answer)) => {
            let mut state = shared.state.lock().unwrap();
            for shown in shown {
                state.delivered.push(ChatDelivery { service: contract.service, shown, request: request.clone() });
            }
            let count = state.delivered.len();
            drop(state);
            shared.delivered_count.send_replace(count);
            answer
        }
        Err(refusal) => refusal,
    }
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";
const DIGITS: &[u8] = b"0123456789";

/// `len` random characters of `alphabet`, as a service would issue a token.
fn random_text(len: usize, alphabet: &[u8]) -> String {
    let mut bytes = vec![0u8; len];
    rand::fill(&mut bytes[..]);
    bytes.iter().map(|b| alphabet[*b as usize % alphabet.len()] as char).collect()
}
