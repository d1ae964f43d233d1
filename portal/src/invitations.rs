//! The e-mail flows' rules: invitations (an account without a password and a 72-hour code),
//! password resets (a 30-minute link that also unblocks, forgets remembered browsers and ends
//! sessions), and sign-in links as a second factor (10 minutes, bound to one browser session).

use crate::error::PortalError;
use crate::i18n::{Lang, Msg};
use crate::onetime::{Kind, Refusal, INVITATION_TTL, RESET_TTL, SIGN_IN_LINK_TTL};
use crate::sessions::Session;
use crate::store::decode;
use crate::Portal;

/// Sign-in-link e-mails, and separately password-reset e-mails, per account within
/// [`MAIL_WINDOW`] (like SMS: counted before sending).
pub const MAX_LINK_MAILS: usize = 3;
/// The window of [`MAX_LINK_MAILS`], seconds.
pub const MAIL_WINDOW: u64 = 10 * 60;

/// What [`send_sign_in_link`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkSent {
    /// Mailed to every verified address.
    Sent,
    /// The account has no verified address.
    NoAddress,
    /// [`MAX_LINK_MAILS`] were sent within [`MAIL_WINDOW`]; nothing sent, earlier links stay.
    RateLimited,
}

fn fill(template: &str, account: &str, link: &str, code: &str) -> String {
    template.replace("{account}", account).replace("{link}", link).replace("{code}", code)
}

fn link(portal: &Portal, path: &str, token: &str) -> String {
    format!("{}{path}?t={token}", portal.config.public_url.trim_end_matches('/'))
}

/// Invites `name` at `email`: creates the account without a password (or refreshes an
/// invitation never used), supersedes earlier invitations, and sends the link and code.
pub async fn invite(portal: &Portal, name: &str, email: &str, lang: Lang) -> Result<(), PortalError> {
    portal.accounts.create_invited(name, email).await?;
    portal.tokens.retire(Kind::Invitation, name)?;
    let token = portal.tokens.issue(Kind::Invitation, name, INVITATION_TTL, None, false)?;
    let body = fill(lang.t(Msg::MailInviteBody), name, &link(portal, "/invite", &token), &token);
    portal.mailer.send(email, lang.t(Msg::MailInviteSubject), body).await?;
    Ok(())
}

/// The account's addresses that sign-in links and password resets go to: its verified contact
/// addresses, among them the invitation's address once the invitation was accepted.
pub fn sign_in_addresses(portal: &Portal, account: &str) -> Result<Vec<String>, PortalError> {
    portal.contacts.verified_emails(account)
}

/// Sends a password-reset link to every verified address of `name` if it has a password;
/// does nothing otherwise (the caller answers the same either way).
pub async fn send_reset(portal: &Portal, name: &str, lang: Lang) -> Result<(), PortalError> {
    let Some(account) = portal.accounts.get(name)? else { return Ok(()) };
    if account.password_hash.is_empty() {
        // An invited account sets its first password through the invitation.
        return Ok(());
    }
    let addresses = sign_in_addresses(portal, name)?;
    if addresses.is_empty() {
        return Ok(());
    }
    if !portal.reset_limit.allow(name).await? {
        tracing::warn!(account = name, "password-reset e-mail refused: send limit");
        return Ok(());
    }
    portal.tokens.retire(Kind::Reset, name)?;
    let token = portal.tokens.issue(Kind::Reset, name, RESET_TTL, None, false)?;
    let body = fill(lang.t(Msg::MailResetBody), name, &link(portal, "/reset", &token), "");
    for address in &addresses {
        portal.mailer.send(address, lang.t(Msg::MailResetSubject), body.clone()).await?;
    }
    Ok(())
}

/// Sends a sign-in link bound to the session whose id has digest `session` to every verified
/// address of `account` (one link: whichever copy is opened first uses it), unless it has no
/// verified address or reached its send limit (then nothing is sent and older links stay).
pub async fn send_sign_in_link(
    portal: &Portal,
    account: &str,
    session: String,
    remember: bool,
    lang: Lang,
) -> Result<LinkSent, PortalError> {
    let addresses = sign_in_addresses(portal, account)?;
    if addresses.is_empty() {
        return Ok(LinkSent::NoAddress);
    }
    if !portal.link_limit.allow(account).await? {
        return Ok(LinkSent::RateLimited);
    }
    portal.tokens.retire(Kind::SignInLink, account)?;
    let token = portal.tokens.issue(Kind::SignInLink, account, SIGN_IN_LINK_TTL, Some(session), remember)?;
    let body = fill(lang.t(Msg::MailSignInBody), account, &link(portal, "/email/link", &token), "");
    for address in &addresses {
        portal.mailer.send(address, lang.t(Msg::MailSignInSubject), body.clone()).await?;
    }
    Ok(LinkSent::Sent)
}

/// Accepts an invitation: the code that went to the invitation's address proved it, so the
/// address becomes a verified contact address (the account's one list of addresses), then the
/// password is set as by [`set_password`].
pub async fn accept_invitation(portal: &Portal, account: &str, password: &str) -> Result<(), PortalError> {
    if let Some(email) = portal.accounts.get(account)?.and_then(|a| a.email) {
        let now = portal.config.clock.now();
        if !portal.contacts.add_verified(account, &email, now)? {
            tracing::warn!(account, "the invitation's address was not kept as a contact address");
        }
    }
    set_password(portal, account, password).await
}

/// Sets `account`'s password after an invitation or reset: unblocks and reactivates it
/// (`Accounts::reset`), forgets its remembered browsers and ends all its sessions.
pub async fn set_password(portal: &Portal, account: &str, password: &str) -> Result<(), PortalError> {
    portal.accounts.reset(account, Some(password)).await?;
    let forgotten = portal.browsers.revoke_all(account)?;
    let ended = end_sessions_of(portal, account)?;
    tracing::info!(account, forgotten, ended, "password set by e-mail link");
    Ok(())
}

/// Ends every session of `account`, whatever its stage; returns how many.
pub fn end_sessions_of(portal: &Portal, account: &str) -> Result<usize, PortalError> {
    let tree = portal.store.sessions();
    let mut ended = 0;
    for item in tree.iter() {
        let (key, bytes) = item?;
        let session: Session = decode("session", &bytes)?;
        if session.account() == Some(account) {
            tree.remove(key)?;
            ended += 1;
        }
    }
    Ok(ended)
}

/// The message for a refused token.
pub fn refusal_msg(refusal: Refusal) -> Msg {
    match refusal {
        Refusal::Invalid => Msg::LinkInvalid,
        Refusal::Expired => Msg::LinkExpired,
        Refusal::Used => Msg::LinkUsed,
    }
}
