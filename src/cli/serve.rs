//! `hrm serve`: the web app, run by a hospital with its own account; `hrm serve user` manages its
//! staff accounts.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use alloy::transports::http::reqwest::Url;
use clap::{Args, Subcommand};
use eyre::{Context as _, eyre};
use hrm::follower::{FollowEvent, FollowOptions, follow};
use hrm::migration::MigrationOptions;
use hrm::store::{StaffError, StaffRole};

use super::context::Context;
use super::migrate::{describe_follow_event, follow_options, stop_requested};
use super::model::default_model_path;
use super::output::{print_json, table};
use crate::web::{FollowerStatus, ServeSettings, WebApp};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub command: Option<ServeCommand>,
    /// Address and port to listen on (port 0 picks a free one)
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR:PORT")]
    pub listen: SocketAddr,
    /// The URL people reach the server at [default: http://<listen address>]. Its host is the
    /// domain patients sign in to; https makes the session cookie Secure (put TLS in front).
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// The diabetes model for patients' predictions [default: $HRM_HOME/model.json]
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// A block explorer for transaction links (`<URL>/tx/<hash>`)
    #[arg(long, value_name = "URL")]
    pub explorer_url: Option<String>,
    /// Also run the migration follower in this process (as `hrm migrate --follow`): approvals are
    /// archived as they are confirmed, through outages; the admin page shows its lag
    #[arg(long)]
    pub follow: bool,
    /// With --follow: seconds between passes
    #[arg(long, default_value_t = 2.0, value_name = "SECONDS", requires = "follow")]
    pub poll_interval: f64,
    /// With --follow: blocks the archive may fall behind the chain's head before GET /readyz
    /// answers 503
    #[arg(long, default_value_t = 30, value_name = "BLOCKS", requires = "follow")]
    pub ready_max_lag: u64,
    /// Serve Prometheus metrics at http://ADDR:PORT/metrics, apart from the pages (keep it on
    /// the hospital's network)
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<SocketAddr>,
    /// A reverse proxy (an address or a CIDR range; repeat for several) whose X-Forwarded-For or
    /// Forwarded header names the client, so that sign-in failures count against the client
    /// rather than against the proxy that everyone shares
    #[arg(long = "trusted-proxy", value_name = "CIDR", value_parser = parse_trusted_proxy)]
    pub trusted_proxies: Vec<ipnet::IpNet>,
    #[command(flatten)]
    pub retention: super::migrate::RetentionArgs,
}

#[derive(Debug, Subcommand)]
pub enum ServeCommand {
    /// Staff accounts of this hospital's web app (kept in the archive database)
    #[command(subcommand)]
    User(UserCommand),
}

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a staff account; the password comes from HRM_STAFF_PASSWORD or is asked for twice
    Add {
        /// User name: 2 to 32 lower-case letters, digits, '.', '-' or '_'
        name: String,
        /// A role: clerk, reviewer or admin; repeat for several
        #[arg(long = "role", required = true, value_name = "ROLE")]
        roles: Vec<String>,
    },
    /// List staff accounts
    List,
}

pub async fn run(context: &Context, args: ServeArgs) -> eyre::Result<()> {
    match args.command {
        Some(ServeCommand::User(command)) => run_user(context, command).await,
        None => serve(context, args).await,
    }
}

async fn serve(context: &Context, args: ServeArgs) -> eyre::Result<()> {
    let (consortium, hospital) = context.consortium_signed().await?;
    if !consortium.is_hospital(hospital.address()).await? {
        return Err(eyre!(
            "{} is not a registered hospital; `hrm serve` runs as a hospital: pass --from with its account",
            hospital.address()
        ));
    }
    // Envelopes are sealed to the hospital's current sealing key: a server without it could
    // open none of the new ones.
    let hospital_key = context.identities.sealing_keys.recipient_key(&hospital)?;
    let (_, key_version) = consortium.sealing_key_of(hospital.address()).await?;
    if !hospital_key.versions().contains(&key_version) {
        return Err(eyre!(
            "{} seals to key version {key_version}, which is not kept in {}: copy that folder from the machine where `hrm key rotate` ran",
            hospital.address(),
            context.identities.sealing_keys.folder_of(hospital.address()).display()
        ));
    }
    args.retention.only_with_follow(args.follow)?;
    let follow = match args.follow {
        true => Some(FollowOptions {
            retention: args.retention.policy(),
            ..follow_options(args.poll_interval, &context.rpc_url()?)?
        }),
        false => None,
    };
    let archive = context.archive().await?;
    archive.ensure_indexes().await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {} (is another server using the port?)", args.listen))?;
    let bound = listener.local_addr()?;
    let public_url = args.public_url.clone().unwrap_or_else(|| format!("http://{bound}"));
    let public_url: Url = public_url.parse().map_err(|e| eyre!("--public-url '{public_url}': {e}"))?;
    let explorer_url = match &args.explorer_url {
        Some(url) => Some(url.parse::<Url>().map_err(|e| eyre!("--explorer-url '{url}': {e}"))?),
        None => None,
    };
    let settings = ServeSettings {
        public_url: public_url.clone(),
        model_path: args.model.clone().unwrap_or_else(|| default_model_path(context)),
        migration: MigrationOptions { recipient_key: Some(hospital_key), ..MigrationOptions::default() },
        explorer_url,
        ready_max_lag: args.follow.then_some(args.ready_max_lag),
        trusted_proxies: args.trusted_proxies.clone(),
    };
    let name = consortium.hospitals().await?.into_iter().find(|(a, _)| *a == hospital.address()).map(|(_, n)| n);
    let app = Arc::new(WebApp::new(consortium, hospital.clone(), archive, context.identities.clone(), settings));
    // The first line says where the server is; scripts (and the tests) read it.
    println!(
        "Serving hrm for {} ({}) at {public_url} (listening on {bound})",
        name.as_deref().unwrap_or("hospital"),
        hospital.address()
    );
    eprintln!("Press Ctrl-C to stop.");
    super::logging::init(context.global.log_format);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let metrics = match args.metrics_listen {
        Some(address) => Some(tokio::spawn(super::metrics_listen::serve_metrics(address, stopping.clone()).await?)),
        None => None,
    };
    let follower = follow.map(|options| tokio::spawn(run_follower(app.clone(), options, stopping.clone())));
    let mut server_stopping = stopping.clone();
    let mut server = tokio::spawn(crate::web::serve(listener, app, async move {
        let _ = server_stopping.wait_for(|stop| *stop).await;
    }));
    // Ctrl-C or SIGTERM stops the server gracefully, then the follower, which saves where it is.
    let served = tokio::select! {
        joined = &mut server => joined,
        () = stop_requested() => {
            let _ = stop.send(true);
            server.await
        }
    };
    let _ = stop.send(true);
    served.context("the server task")?.context("serving the web app")?;
    if let Some(follower) = follower {
        follower.await.context("the follower task")??;
    }
    if let Some(metrics) = metrics {
        metrics.await.context("the metrics task")?.context("serving metrics")?;
    }
    eprintln!("Stopped.");
    Ok(())
}

/// `--follow`: the migration follower beside the server, until the server stops. Its events go
/// to the admin page and, one line each, to stderr (counts and blocks only, never health data).
async fn run_follower(
    app: Arc<WebApp>,
    options: FollowOptions,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) -> eyre::Result<()> {
    *app.follower.lock().expect("follower lock") = Some(FollowerStatus::default());
    tracing::info!("following the chain: approvals are archived as they are confirmed");
    let stop = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let on_event = |event: FollowEvent| {
        tracing::info!(target: "hrm::follower", "{}", describe_follow_event(&event));
        if let Some(status) = app.follower.lock().expect("follower lock").as_mut() {
            status.record(&event);
        }
    };
    follow(&app.consortium, &app.archive, &app.hospital, &app.settings.migration, &options, stop, on_event).await?;
    Ok(())
}

/// `--trusted-proxy`: an address (a /32 or /128) or a CIDR range.
fn parse_trusted_proxy(text: &str) -> Result<ipnet::IpNet, String> {
    text.parse::<ipnet::IpNet>()
        .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("'{text}' is neither an IP address nor a CIDR range such as 10.0.0.0/8"))
}

async fn run_user(context: &Context, command: UserCommand) -> eyre::Result<()> {
    let archive = context.archive().await?;
    match command {
        UserCommand::Add { name, roles } => {
            let roles = roles.iter().map(|r| r.parse::<StaffRole>()).collect::<Result<Vec<_>, StaffError>>()?;
            let password = staff_password(&name)?;
            let account = archive.add_staff(&name, &password, &roles).await?;
            let roles: Vec<&str> = account.roles.iter().map(|r| r.as_str()).collect();
            if context.json() {
                print_json(&serde_json::json!({ "username": account.username, "roles": roles }))
            } else {
                println!("Added staff account {} ({})", account.username, roles.join(", "));
                Ok(())
            }
        }
        UserCommand::List => {
            let accounts = archive.staff_accounts().await?;
            if context.json() {
                let rows: Vec<_> = accounts
                    .iter()
                    .map(|a| serde_json::json!({ "username": a.username, "roles": a.roles, "disabled": a.disabled }))
                    .collect();
                return print_json(&rows);
            }
            if accounts.is_empty() {
                println!("No staff accounts yet: add the first admin with `hrm serve user add NAME --role admin`.");
                return Ok(());
            }
            let mut rows = table(["user", "roles", "status"]);
            for a in &accounts {
                let roles: Vec<&str> = a.roles.iter().map(|r| r.as_str()).collect();
                rows.add_row(vec![
                    a.username.clone(),
                    roles.join(", "),
                    if a.disabled { "disabled" } else { "active" }.to_string(),
                ]);
            }
            println!("{rows}");
            Ok(())
        }
    }
}

/// The new account's password: HRM_STAFF_PASSWORD, else asked twice on the terminal.
fn staff_password(name: &str) -> eyre::Result<String> {
    if let Ok(password) = std::env::var("HRM_STAFF_PASSWORD") {
        return Ok(password);
    }
    if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        return Err(eyre!("no password for '{name}': set HRM_STAFF_PASSWORD or run on a terminal to be asked"));
    }
    let first =
        rpassword::prompt_password(format!("Password for staff account '{name}': ")).context("reading the password")?;
    let second = rpassword::prompt_password("Repeat it: ").context("reading the password")?;
    if first != second {
        return Err(eyre!("the two passwords differ; nothing was created"));
    }
    Ok(first)
}
