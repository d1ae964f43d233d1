//! Organisation pages: joining (the first account creates the organisation and administers it,
//! later ones ask), and the administrator's pages — access requests, blocked accounts and
//! devices of the organisation, and its audit log. Every administrator route checks that the
//! session is signed in, that its account administers an organisation, and that whatever the
//! form names belongs to that organisation.

#![allow(clippy::result_large_err)] // an early Err(Response) is how a handler stops

use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::handlers::{frame, home_of, OrFail, Res};
use super::pages::{alert, csrf_field, layout, utc, Frame};
use super::{CsrfForm, Ctx, HasCsrf};
use crate::accounts::SignInRefusal;
use crate::audit::{AuditEvent, AuditKind};
use crate::i18n::Msg;
use crate::nyckel::{DeviceInfo, RpError};
use crate::orgs::{JoinOutcome, Membership, Organisation, Role};

macro_rules! csrf_form {
    ($name:ident { $($field:ident),* }) => {
        #[derive(Deserialize)]
        pub struct $name {
            csrf: String,
            $(#[serde(default)] $field: String,)*
        }
        impl HasCsrf for $name {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    };
}

csrf_form!(JoinForm { org, name });
csrf_form!(DecisionForm { account, decision });
csrf_form!(AccountForm { account });
csrf_form!(RoleForm { account, role });
csrf_form!(DeviceForm { account, device_id });
csrf_form!(InviteForm { name, email });

/// Records a refused password or code (and a block) in the audit log; a failure to record is
/// logged, not shown, so the refusal itself still reaches the browser.
pub(super) fn audit_refusal(ctx: &Ctx, account: &str, refusal: SignInRefusal) {
    let kind = match refusal {
        SignInRefusal::WrongCredentials => AuditKind::SignInFailed,
        SignInRefusal::Blocked => AuditKind::AccountBlocked,
        SignInRefusal::Inactive => return,
    };
    let exists = ctx.portal.accounts.get(account).ok().flatten().is_some();
    if exists {
        if let Err(e) = ctx.portal.audit_event(account, account, kind, ctx.ip.as_deref().unwrap_or("")) {
            tracing::warn!(error = %e, "audit");
        }
    }
}

fn signed_in(ctx: &Ctx) -> Result<String, Response> {
    ctx.session.signed_in().map(str::to_owned).ok_or_else(|| ctx.redirect(home_of(&ctx.session.stage)))
}

/// The signed-in administrator and their organisation, or 403 for anyone else.
fn admin(ctx: &Ctx) -> Result<(String, Organisation), Response> {
    let account = signed_in(ctx)?;
    let org = ctx.portal.orgs.admin_of(&account).or_fail(ctx)?;
    let org = match org {
        Some(id) => ctx.portal.orgs.get(&id).or_fail(ctx)?,
        None => None,
    };
    match org {
        Some(org) => Ok((account, org)),
        None => Err(ctx.page(StatusCode::FORBIDDEN, super::pages::message_page(ctx.lang, ctx.t(Msg::NotAdmin)))),
    }
}

fn not_in_org(ctx: &Ctx) -> Response {
    ctx.page(StatusCode::NOT_FOUND, super::pages::message_page(ctx.lang, ctx.t(Msg::NotInOrg)))
}

/// Whether `account` is an approved member or administrator of `org`.
fn member_of(ctx: &Ctx, account: &str, org: &str) -> Result<bool, Response> {
    Ok(ctx.portal.orgs.org_of(account).or_fail(ctx)?.as_deref() == Some(org))
}

// ---- my organisation ----

fn org_page(f: &Frame, state: Option<(&Membership, Option<&Organisation>)>, error: Option<&str>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::OrgTitle,
        html! {
            (alert(error))
            @match state {
                Some((m, org)) => {
                    @let name = org.map(|o| o.name.as_str()).unwrap_or(m.org.as_str());
                    p id="membership" data-role=(match m.role { Role::Admin => "admin", Role::Member => "member", Role::Pending => "pending" }) {
                        @match m.role {
                            Role::Pending => { (t(Msg::OrgPending)) " " strong { (name) } "." }
                            Role::Member => { (t(Msg::OrgMemberOf)) " " strong { (name) } "." }
                            Role::Admin => { (t(Msg::OrgAdminOf)) " " strong { (name) } "." }
                        }
                    }
                    @if m.role == Role::Admin { p { a href="/admin" id="admin-link" { (t(Msg::AdminLink)) } } }
                }
                None => {
                    p { (t(Msg::OrgIntro)) }
                    form method="post" action="/org/join" {
                        (csrf_field(f.csrf))
                        label for="org" { (t(Msg::OrgId)) }
                        input id="org" name="org" type="text" required maxlength="64" pattern="[a-z0-9._\\-]{1,64}";
                        label for="org-name" { (t(Msg::OrgName)) }
                        input id="org-name" name="name" type="text" maxlength="100";
                        button type="submit" { (t(Msg::JoinButton)) }
                    }
                }
            }
            p { a href="/home" { (t(Msg::Home)) } }
        },
    )
}

async fn render_org(ctx: &Ctx, account: &str, status: StatusCode, error: Option<Msg>) -> Res {
    let membership = ctx.portal.orgs.membership(account).or_fail(ctx)?;
    let org = match &membership {
        Some(m) => ctx.portal.orgs.get(&m.org).or_fail(ctx)?,
        None => None,
    };
    let state = membership.as_ref().map(|m| (m, org.as_ref()));
    Ok(ctx.page(status, org_page(&frame(ctx), state, error.map(|m| ctx.t(m)))))
}

pub async fn org(ctx: Ctx) -> Res {
    let account = signed_in(&ctx)?;
    render_org(&ctx, &account, StatusCode::OK, None).await
}

pub async fn join(CsrfForm { ctx, form }: CsrfForm<JoinForm>) -> Res {
    let account = signed_in(&ctx)?;
    match ctx.portal.orgs.join(&account, &form.org, &form.name).await.or_fail(&ctx)? {
        Ok(JoinOutcome::Created) => {
            ctx.portal.audit_event(&account, &account, AuditKind::OrgCreated, form.org.trim()).or_fail(&ctx)?;
            Ok(ctx.redirect("/org"))
        }
        Ok(JoinOutcome::Requested) => {
            ctx.portal.audit_event(&account, &account, AuditKind::AccessRequested, "").or_fail(&ctx)?;
            Ok(ctx.redirect("/org"))
        }
        Ok(JoinOutcome::AlreadyIn(_)) => Ok(ctx.redirect("/org")),
        Err(_) => render_org(&ctx, &account, StatusCode::BAD_REQUEST, Some(Msg::OrgInvalidId)).await,
    }
}

// ---- administration ----

struct MemberRow {
    account: String,
    role: Role,
    blocked: bool,
}

fn admin_page(
    f: &Frame,
    org: &Organisation,
    pending: &[(String, u64)],
    members: &[MemberRow],
    blocked_devices: &[(String, DeviceInfo)],
    can_unblock_devices: bool,
    notice: Option<&str>,
) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::AdminTitle,
        html! {
            @if let Some(n) = notice { p.notice role="status" { (n) } }
            p { (t(Msg::OrgAdminOf)) " " strong id="org-name" { (org.name) } " (" (org.id) ")" }
            h2 { (t(Msg::PendingRequests)) }
            @if pending.is_empty() {
                p id="no-requests" { (t(Msg::NoPendingRequests)) }
            } @else {
                table id="requests" {
                    thead { tr { th scope="col" { (t(Msg::UserName)) } th scope="col" { (t(Msg::AuditTime)) } th scope="col" { (t(Msg::Decision)) } } }
                    tbody {
                        @for (account, since) in pending {
                            tr data-account=(account) {
                                td { (account) } td { (utc(*since)) }
                                td {
                                    form method="post" action="/admin/requests" {
                                        (csrf_field(f.csrf))
                                        input type="hidden" name="account" value=(account);
                                        button type="submit" name="decision" value="approve" aria-label={ (t(Msg::Approve)) ": " (account) } { (t(Msg::Approve)) }
                                        " "
                                        button type="submit" name="decision" value="refuse" aria-label={ (t(Msg::Refuse)) ": " (account) } { (t(Msg::Refuse)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { (t(Msg::Members)) }
            table id="members" {
                thead { tr { th scope="col" { (t(Msg::UserName)) } th scope="col" { (t(Msg::Role)) } th scope="col" { (t(Msg::AccountStateCol)) } } }
                tbody {
                    @for m in members {
                        tr data-account=(m.account) {
                            td { (m.account) }
                            td {
                                (if m.role == Role::Admin { t(Msg::RoleAdmin) } else { t(Msg::RoleMember) }) " "
                                form.inline method="post" action="/admin/role" {
                                    (csrf_field(f.csrf))
                                    input type="hidden" name="account" value=(m.account);
                                    @if m.role == Role::Admin {
                                        button type="submit" name="role" value="member" aria-label={ (t(Msg::MakeMember)) ": " (m.account) } { (t(Msg::MakeMember)) }
                                    } @else {
                                        button type="submit" name="role" value="admin" aria-label={ (t(Msg::MakeAdmin)) ": " (m.account) } { (t(Msg::MakeAdmin)) }
                                    }
                                }
                            }
                            td {
                                @if m.blocked {
                                    (t(Msg::AccountBlockedState)) " "
                                    form.inline method="post" action="/admin/accounts/unblock" {
                                        (csrf_field(f.csrf))
                                        input type="hidden" name="account" value=(m.account);
                                        button type="submit" aria-label={ (t(Msg::Unblock)) ": " (m.account) } { (t(Msg::Unblock)) }
                                    }
                                } @else { (t(Msg::AccountActiveState)) }
                            }
                        }
                    }
                }
            }
            h2 { (t(Msg::BlockedDevices)) }
            @if !can_unblock_devices { p { (t(Msg::DeviceUnblockUnavailable)) } }
            @if blocked_devices.is_empty() {
                p id="no-blocked-devices" { (t(Msg::NoBlockedDevices)) }
            } @else {
                table id="blocked-devices" {
                    thead { tr { th scope="col" { (t(Msg::UserName)) } th scope="col" { (t(Msg::DeviceName)) } th scope="col" { (t(Msg::Platform)) } @if can_unblock_devices { th scope="col" { (t(Msg::Unblock)) } } } }
                    tbody {
                        @for (account, d) in blocked_devices {
                            tr {
                                td { (account) } td { (d.name) } td { (d.platform) }
                                @if can_unblock_devices {
                                    td {
                                        form method="post" action="/admin/devices/unblock" {
                                            (csrf_field(f.csrf))
                                            input type="hidden" name="account" value=(account);
                                            input type="hidden" name="device_id" value=(d.device_id);
                                            button type="submit" aria-label={ (t(Msg::Unblock)) ": " (d.name) } { (t(Msg::Unblock)) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/admin/audit" id="audit-link" { (t(Msg::AuditTitle)) } }
            p { a href="/admin/invite" id="invite-link" { (t(Msg::AdminInviteTitle)) } }
            p { a href="/home" { (t(Msg::Home)) } }
        },
    )
}

async fn render_admin(ctx: &Ctx, notice: Option<Msg>) -> Res {
    let (_, org) = admin(ctx)?;
    let mut pending = Vec::new();
    let mut members = Vec::new();
    let mut blocked_devices = Vec::new();
    for (account, m) in ctx.portal.orgs.members(&org.id).or_fail(ctx)? {
        if m.role == Role::Pending {
            pending.push((account, m.since));
            continue;
        }
        let blocked = ctx.portal.accounts.get(&account).or_fail(ctx)?.is_some_and(|a| a.blocked);
        let mut devices = match ctx.portal.rp.devices(&account).await {
            Ok(devices) => devices,
            Err(RpError::Api { status: 404, .. }) => Vec::new(),
            Err(e) => return Err(ctx.fail(e.into())),
        };
        ctx.portal.device_names.apply(&account, &mut devices).or_fail(ctx)?;
        blocked_devices.extend(devices.into_iter().filter(|d| d.state == "blocked").map(|d| (account.clone(), d)));
        members.push(MemberRow { account, role: m.role, blocked });
    }
    let page = admin_page(
        &frame(ctx),
        &org,
        &pending,
        &members,
        &blocked_devices,
        ctx.portal.tenant_admin.is_some(),
        notice.map(|m| ctx.t(m)),
    );
    Ok(ctx.page(StatusCode::OK, page))
}

pub async fn admin_home(ctx: Ctx) -> Res {
    render_admin(&ctx, None).await
}

pub async fn decide(CsrfForm { ctx, form }: CsrfForm<DecisionForm>) -> Res {
    let (admin_account, org) = admin(&ctx)?;
    let approve = match form.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => return Ok(ctx.page(StatusCode::BAD_REQUEST, super::pages::message_page(ctx.lang, "400"))),
    };
    // Record under the organisation before a refusal removes the request.
    let kind = if approve { AuditKind::AccessApproved } else { AuditKind::AccessRefused };
    let pending_here = |m: &Membership| m.org == org.id && m.role == Role::Pending;
    if approve && ctx.portal.orgs.membership(&form.account).or_fail(&ctx)?.as_ref().is_some_and(pending_here) {
        // Only for this organisation's own requester (never a name another administrator
        // typed), and before the approval is stored, so a failure leaves it to decide again.
        ctx.portal.ensure_server_user(&form.account).await.or_fail(&ctx)?;
    }
    if !ctx.portal.orgs.decide(&org.id, &form.account, approve).await.or_fail(&ctx)? {
        return Err(not_in_org(&ctx));
    }
    ctx.portal.audit.record(&org.id, &form.account, &admin_account, kind, "").or_fail(&ctx)?;
    Ok(ctx.redirect("/admin"))
}

/// An administrator makes a member of their organisation administrator, or an administrator
/// (themself included) a member; the last administrator cannot stop being one (409). An
/// administrator who made themself a member is sent home: the page is no longer theirs.
pub async fn set_role(CsrfForm { ctx, form }: CsrfForm<RoleForm>) -> Res {
    let (admin_account, org) = admin(&ctx)?;
    let role = match form.role.as_str() {
        "admin" => Role::Admin,
        "member" => Role::Member,
        _ => return Ok(ctx.page(StatusCode::BAD_REQUEST, super::pages::message_page(ctx.lang, "400"))),
    };
    match ctx.portal.orgs.set_role(&org.id, &form.account, role).await.or_fail(&ctx)? {
        Err(crate::orgs::RoleError::NotAMember) => Err(not_in_org(&ctx)),
        Err(crate::orgs::RoleError::LastAdmin) => {
            Ok(ctx.page(StatusCode::CONFLICT, super::pages::message_page(ctx.lang, ctx.t(Msg::LastAdminRefused))))
        }
        Ok(changed) => {
            if changed {
                let detail = if role == Role::Admin { "admin" } else { "member" };
                ctx.portal
                    .audit
                    .record(&org.id, &form.account, &admin_account, AuditKind::RoleChanged, detail)
                    .or_fail(&ctx)?;
            }
            if form.account == admin_account && role == Role::Member {
                return Ok(ctx.redirect("/org"));
            }
            render_admin(&ctx, Some(Msg::Done)).await
        }
    }
}

pub async fn unblock_account(CsrfForm { ctx, form }: CsrfForm<AccountForm>) -> Res {
    let (admin_account, org) = admin(&ctx)?;
    if !member_of(&ctx, &form.account, &org.id)? {
        return Err(not_in_org(&ctx));
    }
    ctx.portal.accounts.reset(&form.account, None).await.or_fail(&ctx)?;
    ctx.portal.audit.record(&org.id, &form.account, &admin_account, AuditKind::AccountUnblocked, "").or_fail(&ctx)?;
    render_admin(&ctx, Some(Msg::Done)).await
}

pub async fn unblock_device(CsrfForm { ctx, form }: CsrfForm<DeviceForm>) -> Res {
    let (admin_account, org) = admin(&ctx)?;
    if !member_of(&ctx, &form.account, &org.id)? {
        return Err(not_in_org(&ctx));
    }
    let Some(client) = ctx.portal.tenant_admin.clone() else {
        return Ok(ctx.page(
            StatusCode::NOT_IMPLEMENTED,
            super::pages::message_page(ctx.lang, ctx.t(Msg::DeviceUnblockUnavailable)),
        ));
    };
    // The device id comes from the browser: it must be one of this member's devices.
    let devices = ctx.portal.rp.devices_or_none(&form.account).await.or_fail(&ctx)?;
    let Some(device) = devices.iter().find(|d| d.device_id == form.device_id) else { return Err(not_in_org(&ctx)) };
    client.unblock_device(&device.device_id).await.or_fail(&ctx)?;
    ctx.portal
        .audit
        .record(&org.id, &form.account, &admin_account, AuditKind::DeviceUnblocked, &device.name)
        .or_fail(&ctx)?;
    render_admin(&ctx, Some(Msg::Done)).await
}

#[derive(Deserialize)]
pub struct AuditQuery {
    before: Option<u64>,
}

fn audit_page(f: &Frame, events: &[AuditEvent], next: Option<u64>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::AuditTitle,
        html! {
            @if events.is_empty() {
                p id="no-events" { (t(Msg::NoEvents)) }
            } @else {
                table id="audit" {
                    thead { tr { th scope="col" { (t(Msg::AuditTime)) } th scope="col" { (t(Msg::UserName)) }
                                 th scope="col" { (t(Msg::AuditEventCol)) } th scope="col" { (t(Msg::AuditActor)) } th scope="col" { (t(Msg::AuditDetail)) } } }
                    tbody {
                        @for e in events {
                            tr data-seq=(e.seq) { td { (utc(e.at)) } td { (e.account) } td.kind { (e.kind.name()) } td { (e.actor) } td { (e.detail) } }
                        }
                    }
                }
            }
            @if let Some(n) = next { p { a id="older" href={ "/admin/audit?before=" (n) } { (t(Msg::OlderEvents)) } } }
            p { a href="/admin" { (t(Msg::AdminTitle)) } }
        },
    )
}

pub async fn audit(ctx: Ctx, Query(q): Query<AuditQuery>) -> Res {
    let (_, org) = admin(&ctx)?;
    let (events, next) = ctx.portal.audit.page(&org.id, q.before).or_fail(&ctx)?;
    Ok(ctx.page(StatusCode::OK, audit_page(&frame(&ctx), &events, next)))
}

// ---- inviting a colleague ----

fn invite_form(f: &Frame, org: &Organisation, notice: Option<&str>, error: Option<&str>) -> Markup {
    let t = |m| f.lang.t(m);
    layout(
        f,
        Msg::AdminInviteTitle,
        html! {
            (alert(error))
            @if let Some(n) = notice { p.notice id="invite-sent" role="status" { (n) } }
            p { (t(Msg::AdminInviteIntro)) " " strong { (org.name) } }
            form method="post" action="/admin/invite" {
                (csrf_field(f.csrf))
                label for="invite-name" { (t(Msg::UserName)) }
                input id="invite-name" name="name" type="text" required maxlength="64" pattern="[a-z0-9._\\-]{1,64}";
                label for="invite-email" { (t(Msg::EmailAddress)) }
                input id="invite-email" name="email" type="email" required maxlength="254";
                button type="submit" { (t(Msg::AdminInviteButton)) }
            }
            p { a href="/admin" { (t(Msg::AdminTitle)) } }
        },
    )
}

pub async fn invite_page(ctx: Ctx) -> Res {
    let (_, org) = admin(&ctx)?;
    Ok(ctx.page(StatusCode::OK, invite_form(&frame(&ctx), &org, None, None)))
}

/// An administrator invites a colleague: the same invitation as `account invite` (an account
/// without a password, a mailed link and code), and the account is a member of the
/// administrator's organisation. Refused, with nothing created, for an account that has a
/// password or belongs to (or asked to join) an organisation.
pub async fn invite(CsrfForm { ctx, form }: CsrfForm<InviteForm>) -> Res {
    let (admin_account, org) = admin(&ctx)?;
    let name = form.name.trim().to_owned();
    let email = form.email.trim().to_owned();
    let refused = |ctx: &Ctx| {
        ctx.page(StatusCode::BAD_REQUEST, invite_form(&frame(ctx), &org, None, Some(ctx.t(Msg::AdminInviteRefused))))
    };
    if !crate::accounts::valid_name(&name) || !crate::mail::valid_address(&email) {
        return Ok(refused(&ctx));
    }
    let existing = ctx.portal.accounts.get(&name).or_fail(&ctx)?;
    let membership = ctx.portal.orgs.membership(&name).or_fail(&ctx)?;
    let invitable = existing.as_ref().is_none_or(|a| a.password_hash.is_empty())
        && membership.as_ref().is_none_or(|m| m.org == org.id && m.role == Role::Member);
    if !invitable {
        return Ok(refused(&ctx));
    }
    ctx.portal.ensure_server_user(&name).await.or_fail(&ctx)?;
    crate::invitations::invite(&ctx.portal, &name, &email, ctx.lang).await.or_fail(&ctx)?;
    if membership.is_none() {
        if let Err(other) = ctx.portal.orgs.add_member(&org.id, &name).await.or_fail(&ctx)? {
            tracing::warn!(account = name, org = other, "invited account joined another organisation meanwhile");
        }
    }
    ctx.portal.audit.record(&org.id, &name, &admin_account, AuditKind::Invited, &email).or_fail(&ctx)?;
    let notice = format!("{} {name} ({email}).", ctx.t(Msg::AdminInviteSent));
    Ok(ctx.page(StatusCode::OK, invite_form(&frame(&ctx), &org, Some(&notice), None)))
}
