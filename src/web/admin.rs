//! The hospital admin's pages: the consortium's status, migration and audit runs with their last
//! results, and staff accounts.

use std::sync::Arc;

use alloy::primitives::Address;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use hrm::audit::audit as audit_archive;
use hrm::chain::membership::describe_lifetime;
use hrm::chain::revert::describe_expiry;
use hrm::chain::{Proposal, ProposalStatus};
use hrm::follower::archive_lag;
use hrm::migration::migrate as migrate_entries;
use hrm::store::{StaffError, StaffRole};
use maud::{Markup, html};
use serde::Deserialize;

use super::entries::entries_table;
use super::layout::{PatientNames, csrf_field, hospital_label, page, short_address};
use super::listing::{ListPlace, ListQuery, filter_form, pager};
use super::{PageError, Visit, WebApp};

/// Where the admin's list of entries lives, for its filter and page links.
const ENTRIES: ListPlace<'static> =
    ListPlace { path: "/admin/entries", anchor: "", rows: "entries", by_patient: true, names_patients: false };

/// `GET /admin/entries`: every entry of the consortium, newest first, fifty at a time.
pub async fn entries(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Query(query): Query<ListQuery>,
) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Admin)?;
    let (filter, page_number) = query.read()?;
    let ledger = app.ledger().await?;
    let names = ledger.hospital_names().clone();
    let shown = filter.page_of(ledger.newest_first(), page_number);
    drop(ledger);
    Ok(page(
        &visit,
        "Entries",
        html! {
            h1 { "Entries" }
            section.card {
                (filter_form(ENTRIES, &query))
                (pager(ENTRIES, &query, &shown))
                @if !shown.items.is_empty() { (entries_table(&shown.items, Some(&names), &PatientNames::new())) }
            }
        },
    ))
}

/// `GET /admin`: hospitals, panels, entries, and the last migration and audit.
pub async fn status(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Admin)?;
    let hospitals = app.consortium.hospitals().await.map_err(PageError::failed)?;
    let mut rows = Vec::with_capacity(hospitals.len());
    for (address, name) in &hospitals {
        let panel = app.consortium.supporting_hospitals(*address).await.map_err(PageError::failed)?;
        let (key, key_version) = app.consortium.sealing_key_of(*address).await.map_err(PageError::failed)?;
        let panel_names: Vec<String> = panel
            .iter()
            .map(|member| {
                hospitals.iter().find(|(a, _)| a == member).map_or_else(|| short_address(*member), |(_, n)| n.clone())
            })
            .collect();
        rows.push((*address, name.clone(), panel_names, (!key.is_empty()).then_some(key_version)));
    }
    let membership = membership_card(&app, &visit, hospitals.len()).await?;
    let counts = app.ledger().await?.count_by_status();
    let lag = archive_lag(&app.consortium, &app.archive).await.map_err(PageError::failed)?;
    let follower = app.follower.lock().expect("follower lock").clone();
    let deployment = app.consortium.deployment();
    let runs = app.admin_runs.lock().expect("admin runs lock");
    let body = html! {
        h1 { "Consortium" }
        p.hint {
            "Contract " code { (deployment.address) } " on chain " (deployment.chain_id)
            ". This server acts as " code title=(app.hospital_address()) { (short_address(app.hospital_address())) } "."
        }
        div.columns {
            section.card {
                h2 { "Entries" }
                @if counts.is_empty() { p.empty { "No entries yet." } }
                @else {
                    ul { @for (status, count) in &counts { li { (count) " " (status) } } }
                    p { a href="/admin/entries" { "Every entry" } }
                }
            }
            section.card {
                h2 { "Archive" }
                div.actions {
                    form.inline method="post" action="/admin/migrate" { (csrf_field(&visit)) button.primary type="submit" { "Run migration" } }
                    form.inline method="post" action="/admin/audit" { (csrf_field(&visit)) button type="submit" { "Run audit" } }
                }
                h3 { "Last migration" }
                @match &runs.migration {
                    None => p.empty { "Not run since the server started." },
                    Some(Ok(report)) => p #last-migration {
                        (report.migrated) " record(s) archived, " (report.already_present) " already there, "
                        (report.failed.len()) " failed; "
                        @match report.blocks_read() {
                            Some((from, to)) => { "blocks " (from) "–" (to) "." }
                            None => { "nothing new since block " (report.read_before()) "." }
                        }
                    },
                    Some(Err(message)) => p.error #last-migration { (message) },
                }
                h3 { "Last audit" }
                @match &runs.audit {
                    None => p.empty { "Not run since the server started." },
                    Some(Ok(report)) => p #last-audit {
                        @if report.is_clean() { "Clean: " } @else { "Differences found: " }
                        (report.approved_on_chain) " approved on chain, " (report.archived) " archived, "
                        (report.missing.len()) " missing, " (report.altered.len()) " altered, " (report.unexpected.len()) " unexpected"
                        @if !report.kept_after_erasure.is_empty() { ", " (report.kept_after_erasure.len()) " kept after their erasure was confirmed" }
                        @if !report.envelopes_missing.is_empty() { ", " (report.envelopes_missing.len()) " without their sealed envelope" }
                        @if report.erasure_requested > 0 { "; " (report.erasure_requested) " erased at patients' request (expected absent)" }
                        "."
                    },
                    Some(Err(message)) => p.error #last-audit { (message) },
                }
            }
        }
        section.card #archive-lag {
            h2 { "Archive lag" }
            table.details {
                tr { th { "Chain head" } td.num #head-block { (lag.head_block) } }
                tr { th { "Archived through block" } td.num #checkpoint-block { @match lag.checkpoint_block { Some(block) => (block), None => "not migrated yet" } } }
                tr { th { "Approved entries waiting" } td.num #waiting { (lag.waiting) } }
            }
            @match &follower {
                None => p.hint #follower { "Not following the chain: run migration above, or start the server with --follow to archive approvals as they are confirmed." },
                Some(status) => {
                    p #follower {
                        @if status.stopped { "The follower has stopped." }
                        @else if let Some((service, message, since)) = &status.outage {
                            span.vote-no { "Waiting for " (service) } " since " (since.try_to_rfc3339_string().unwrap_or_default()) ": " (message) " (retrying)."
                        } @else {
                            span.vote-yes { "Following the chain" } " (" (if status.subscribed { "new blocks by WebSocket subscription" } else { "polling" }) "): " (status.migrated) " record(s) archived since the server started."
                        }
                    }
                    @if let Some((at, summary)) = &status.last_pass {
                        p.hint { "Last busy pass " (at.try_to_rfc3339_string().unwrap_or_default()) ": " (summary) "." }
                    }
                }
            }
        }
        section.card {
            h2 { "Hospitals" }
            table.sortable {
                thead { tr { th { "Name" } th { "Address" } th { "Key" } th { "Supporting hospitals" } } }
                tbody {
                    @for (address, name, panel, key_version) in &rows {
                        tr {
                            td { (name) }
                            td { code title=(address) { (short_address(*address)) } }
                            td {
                                @match key_version {
                                    Some(0) => "published",
                                    Some(version) => { "rotated (version " (version) ")" },
                                    None => "missing",
                                }
                            }
                            td { @if panel.is_empty() { span.muted { "none" } } @else { (panel.join(", ")) } }
                        }
                    }
                }
            }
        }
        (membership)
    };
    drop(runs);
    Ok(page(&visit, "Consortium", body))
}

/// The membership card: the rule, and the open proposals with this hospital's approval or a
/// button to give it.
async fn membership_card(app: &WebApp, visit: &Visit, members: usize) -> Result<Markup, PageError> {
    let (rule, proposals) =
        tokio::try_join!(app.consortium.membership_rule(), app.consortium.proposals()).map_err(PageError::failed)?;
    let open: Vec<Proposal> = proposals.into_iter().filter(|p| p.status == ProposalStatus::Open).collect();
    let mut approved = Vec::with_capacity(open.len());
    for proposal in &open {
        approved.push(
            app.consortium
                .has_approved_proposal(proposal.id, app.hospital_address())
                .await
                .map_err(PageError::failed)?,
        );
    }
    // The ledger keeps the names of removed hospitals too, which a proposal may still name.
    let names = app.ledger().await?.hospital_names().clone();
    let name_of = |address: Address| hospital_label(&names, address);
    Ok(html! {
        section.card #membership {
            h2 { "Membership" }
            p {
                "A hospital joins or leaves when more than " (rule.percent) "% of the " (members)
                " hospitals (" (rule.approvals_needed) " now) approve its proposal within "
                (describe_lifetime(u64::from(rule.lifetime))) "."
                @if rule.admin_active { " The deployer can still register hospitals alone until it renounces." }
            }
            @if open.is_empty() {
                p.empty { "No open proposals. Propose one with " code { "hrm hospital propose" } "." }
            } @else {
                table #proposals {
                    thead { tr { th { "#" } th { "Change" } th { "Proposed by" } th { "Approvals" } th { "Open until" } th { "This hospital" } } }
                    tbody {
                        @for (proposal, approved) in open.iter().zip(&approved) {
                            tr data-proposal=(proposal.id) {
                                td.num { (proposal.id) }
                                td {
                                    (proposal.change.describe(name_of))
                                    @if let Some(hospital) = proposal.change.hospital() {
                                        " " code title=(hospital) { (short_address(hospital)) }
                                    }
                                }
                                td { (name_of(proposal.proposer)) }
                                td.num { (proposal.approvals) " of " (proposal.approvals_needed) }
                                td { (describe_expiry(proposal.expires_at)) }
                                td {
                                    @if *approved { "approved" } @else {
                                        form.inline method="post" action=(format!("/admin/proposals/{}/approve", proposal.id)) {
                                            (csrf_field(visit))
                                            button.small type="submit" aria-label=(format!("Approve proposal {}", proposal.id)) { "Approve" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// `POST /admin/proposals/{id}/approve`: this hospital approves a membership proposal; when that
/// removes a hospital, the entries that waited for its vote stop waiting.
pub async fn approve_proposal(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(id): Path<u64>,
) -> Result<Redirect, PageError> {
    visit.staff(StaffRole::Admin)?;
    let outcome = app.consortium.approve_proposal(id).await.map_err(|e| PageError::BadRequest(e.to_string()))?;
    let released = match outcome.removed {
        Some(_) => app.consortium.release_all_removed_voters().await.map_err(PageError::failed)?,
        None => Vec::new(),
    };
    let mut message = if outcome.passed {
        format!("You approved proposal {id}; it passed and is carried out.")
    } else {
        format!("You approved proposal {id}.")
    };
    let count: usize = released.iter().map(|r| r.released.len()).sum();
    if count > 0 {
        message.push_str(&format!(" {count} pending entries no longer wait for the removed hospital's vote."));
    }
    app.sessions.set_flash(&visit.session.id, message).await.map_err(PageError::failed)?;
    Ok(Redirect::to("/admin#membership"))
}

/// `POST /admin/migrate`.
pub async fn migrate(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Redirect, PageError> {
    visit.staff(StaffRole::Admin)?;
    let result = migrate_entries(&app.consortium, &app.archive, &app.hospital, &app.settings.migration, |_| {}).await;
    app.patient_archives.invalidate().await;
    let message = match &result {
        Ok(report) => format!("Migration archived {} record(s); {} failed.", report.migrated, report.failed.len()),
        Err(e) => format!("Migration stopped: {e}"),
    };
    app.admin_runs.lock().expect("admin runs lock").migration = Some(result.map_err(|e| e.to_string()));
    app.sessions.set_flash(&visit.session.id, message).await.map_err(PageError::failed)?;
    Ok(Redirect::to("/admin"))
}

/// `POST /admin/audit`.
pub async fn audit(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Redirect, PageError> {
    visit.staff(StaffRole::Admin)?;
    let result = audit_archive(&app.consortium, &app.archive).await;
    let message = match &result {
        Ok(report) if report.is_clean() => "Audit: the archive matches the chain.".to_string(),
        Ok(_) => "Audit: the archive differs from the chain; see below.".to_string(),
        Err(e) => format!("Audit stopped: {e}"),
    };
    app.admin_runs.lock().expect("admin runs lock").audit = Some(result.map_err(|e| e.to_string()));
    app.sessions.set_flash(&visit.session.id, message).await.map_err(PageError::failed)?;
    Ok(Redirect::to("/admin"))
}

/// `GET /admin/staff`.
pub async fn staff(State(app): State<Arc<WebApp>>, visit: Visit) -> Result<Markup, PageError> {
    visit.staff(StaffRole::Admin)?;
    staff_page(&app, &visit, None).await
}

async fn staff_page(app: &WebApp, visit: &Visit, error: Option<&str>) -> Result<Markup, PageError> {
    let accounts = app.archive.staff_accounts().await.map_err(PageError::failed)?;
    Ok(page(
        visit,
        "Staff",
        html! {
            h1 { "Staff accounts" }
            @if let Some(error) = error { p.error role="alert" { (error) } }
            section.card {
                table {
                    thead { tr { th { "User" } th { "Roles" } th { "Status" } th { "Change" } } }
                    tbody {
                        @for account in &accounts {
                            @let action = format!("/admin/staff/{}", account.username);
                            tr data-user=(account.username) {
                                td { (account.username) }
                                td {
                                    form.inline method="post" action=(action) {
                                        (csrf_field(visit))
                                        input type="hidden" name="action" value="roles";
                                        (role_boxes(&account.roles))
                                        button.small type="submit" { "Save roles" }
                                    }
                                }
                                td { @if account.disabled { span.badge.badge-rejected { "disabled" } } @else { span.badge.badge-approved { "active" } } }
                                td {
                                    form.inline method="post" action=(action) {
                                        (csrf_field(visit))
                                        input type="hidden" name="action" value=(if account.disabled { "enable" } else { "disable" });
                                        button.small type="submit" { @if account.disabled { "Enable" } @else { "Disable" } }
                                    }
                                    form.inline method="post" action=(action) {
                                        (csrf_field(visit))
                                        input type="hidden" name="action" value="password";
                                        input.small name="password" type="password" placeholder="New password" autocomplete="new-password";
                                        button.small type="submit" { "Reset password" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section.card {
                h2 { "Add a staff member" }
                form method="post" action="/admin/staff" {
                    (csrf_field(visit))
                    label { "User name" input name="username" required autocomplete="off"; }
                    label { "Password" input name="password" type="password" required autocomplete="new-password"; }
                    (role_boxes(&[]))
                    button.primary type="submit" { "Add" }
                }
            }
        },
    ))
}

fn role_boxes(checked: &[StaffRole]) -> Markup {
    html! {
        span.roles {
            @for role in StaffRole::ALL {
                label.check { input type="checkbox" name=(role.as_str()) value="on" checked[checked.contains(&role)]; (role.as_str()) }
            }
        }
    }
}

/// The staff forms' fields; roles are one checkbox each.
#[derive(Debug, Default, Deserialize)]
pub struct StaffForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    action: String,
    clerk: Option<String>,
    reviewer: Option<String>,
    admin: Option<String>,
}

impl StaffForm {
    fn roles(&self) -> Vec<StaffRole> {
        [(StaffRole::Clerk, &self.clerk), (StaffRole::Reviewer, &self.reviewer), (StaffRole::Admin, &self.admin)]
            .into_iter()
            .filter_map(|(role, checked)| checked.is_some().then_some(role))
            .collect()
    }
}

/// `POST /admin/staff`: adds an account.
pub async fn add_staff(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Form(form): Form<StaffForm>,
) -> Result<Response, PageError> {
    visit.staff(StaffRole::Admin)?;
    let username = form.username.trim().to_ascii_lowercase();
    match app.archive.add_staff(&username, &form.password, &form.roles()).await {
        Ok(account) => {
            let roles: Vec<&str> = account.roles.iter().map(|r| r.as_str()).collect();
            app.sessions
                .set_flash(&visit.session.id, format!("Added {} ({}).", account.username, roles.join(", ")))
                .await
                .map_err(PageError::failed)?;
            Ok(Redirect::to("/admin/staff").into_response())
        }
        Err(e) => refused(&app, &visit, e).await,
    }
}

/// `POST /admin/staff/{username}`: disables, enables, resets the password or sets the roles.
pub async fn change_staff(
    State(app): State<Arc<WebApp>>,
    visit: Visit,
    Path(username): Path<String>,
    Form(form): Form<StaffForm>,
) -> Result<Response, PageError> {
    let me = visit.staff(StaffRole::Admin)?.to_string();
    let locks_me_out = username == me
        && (form.action == "disable" || (form.action == "roles" && !form.roles().contains(&StaffRole::Admin)));
    if locks_me_out {
        let message = "You cannot disable your own account or take away your own admin role; ask another admin.";
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, staff_page(&app, &visit, Some(message)).await?).into_response());
    }
    let outcome = match form.action.as_str() {
        "disable" => app.archive.set_staff_disabled(&username, true).await.map(|()| format!("Disabled {username}.")),
        "enable" => app.archive.set_staff_disabled(&username, false).await.map(|()| format!("Enabled {username}.")),
        "password" => app
            .archive
            .reset_staff_password(&username, &form.password)
            .await
            .map(|()| format!("New password set for {username}.")),
        "roles" => {
            app.archive.set_staff_roles(&username, &form.roles()).await.map(|()| format!("Roles of {username} saved."))
        }
        other => return Err(PageError::BadRequest(format!("'{other}' is not a change this page makes"))),
    };
    match outcome {
        Ok(message) => {
            // Their open sessions carry the old roles (or none should remain): sign them out.
            app.sessions.end_all_of(&username).await.map_err(PageError::failed)?;
            app.sessions.set_flash(&visit.session.id, message).await.map_err(PageError::failed)?;
            Ok(Redirect::to("/admin/staff").into_response())
        }
        Err(e) => refused(&app, &visit, e).await,
    }
}

async fn refused(app: &WebApp, visit: &Visit, error: StaffError) -> Result<Response, PageError> {
    match error {
        StaffError::Store(e) => Err(PageError::failed(e)),
        other => {
            let message = other.to_string();
            Ok((StatusCode::UNPROCESSABLE_ENTITY, staff_page(app, visit, Some(&message)).await?).into_response())
        }
    }
}
