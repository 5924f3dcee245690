//! The admin subcommands: provisioning through the store's service layer, directly against the
//! database the configuration names (no server needed). A running server on the same database
//! picks the changes up from the audit log within a second.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use trunkline_server::Config;
use trunkline_store::{
    CallerId, ConnectOptions, Ctx, DomainName, E164, Keyring, Login, NewUser, Password, Role,
    Scope, Store, Tenant, TenantFilter, TenantId, TenantKind, TenantName, UserUpdate, Username,
};

use crate::admin_cli::{
    AccountCommand, ApiKeyCommand, BanCommand, DidCommand, DomainCommand, LocationCommand, RoleArg,
    SecretsCommand, StoreArgs, TenantCommand, TenantKindArg, UserCommand,
};
use crate::{data_dir, load, own_names, secret_key};

/// Every CLI write is audited as done by `cli`, with platform rights.
fn ctx() -> Ctx {
    Ctx::new(Scope::Platform, "cli")
}

const P: Scope = Scope::Platform;

/// The configuration an admin command reads (file, environment, `--data-dir`).
fn config(args: &StoreArgs) -> anyhow::Result<Config> {
    let overrides = load::Overrides {
        data_dir: args.data_dir.clone(),
        ..load::Overrides::default()
    };
    Ok(load::load(args.config.as_deref(), &overrides)?)
}

/// Opens the store the configuration names (creating the data dir, its key file and the
/// SQLite file if needed).
pub async fn open(args: &StoreArgs) -> anyhow::Result<Store> {
    let config = config(args)?;
    data_dir::prepare(&config.data.dir)?;
    let keyring = secret_key::load(&config)?;
    connect(&config, keyring).await
}

/// Connects to the configured database with `keyring` and this server's reserved names, as
/// `serve` does.
pub async fn connect(config: &Config, keyring: Arc<Keyring>) -> anyhow::Result<Store> {
    let options = ConnectOptions {
        keyring: Some(keyring),
        reserved_domains: own_names::reserved_domains(config),
        ..ConnectOptions::default()
    };
    Store::connect_with(&config.data.database(), options)
        .await
        .context("cannot open the provisioning database (data.database_url)")
}

/// `trunkline secrets rotate`: a new current key, every secret re-sealed with it. The key file
/// is rewritten before anything is re-sealed (old and new keys), so a crash in between leaves a
/// file that opens every value; `--retire` drops the old keys only after re-sealing.
pub async fn secrets(args: &StoreArgs, command: SecretsCommand) -> anyhow::Result<()> {
    let SecretsCommand::Rotate { retire } = command;
    let config = config(args)?;
    data_dir::prepare(&config.data.dir)?;
    let source = secret_key::source(&config);
    let next = Arc::new(secret_key::load(&config)?.rotated()?);
    if let secret_key::Source::File(path) = &source {
        secret_key::replace(path, &next)?;
    }
    let store = connect(&config, Arc::clone(&next)).await?;
    let resealed = store.reseal_secrets().await;
    store.close().await;
    let resealed = resealed?;
    let retired;
    let kept: &Keyring = match retire {
        true => {
            retired = next.current_only()?;
            &retired
        }
        false => &next,
    };
    let current = next.current_id();
    match &source {
        secret_key::Source::File(path) => {
            if retire {
                secret_key::replace(path, kept)?;
            }
            eprintln!(
                "{current} is now the current key in {}; {resealed} secrets re-sealed; \
                 restart every server on this database",
                path.display()
            );
        }
        secret_key::Source::Env => {
            eprintln!(
                "{resealed} secrets re-sealed with {current}; put the keys below into {} on \
                 every node and restart",
                secret_key::ENV
            );
            print!("{}", kept.to_text());
        }
    }
    Ok(())
}

/// Sends one command to the running server's control socket in the data directory and prints
/// its answer; an answer starting with `error: ` fails the command.
pub fn control(args: &StoreArgs, line: &str) -> anyhow::Result<std::process::ExitCode> {
    let overrides = load::Overrides {
        data_dir: args.data_dir.clone(),
        ..load::Overrides::default()
    };
    let config = load::load(args.config.as_deref(), &overrides)?;
    let answer = trunkline_server::control::request(&config.data.dir, line)?;
    if let Some(msg) = answer.strip_prefix("error: ") {
        anyhow::bail!("{}", msg.trim_end());
    }
    print!("{answer}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// The control-socket line for a `ban` subcommand.
pub fn ban_line(cmd: &BanCommand) -> String {
    match cmd {
        BanCommand::List => "ban list".to_owned(),
        BanCommand::Remove { ip } => format!("ban remove {ip}"),
    }
}

/// The control-socket line for a `location` subcommand.
pub fn location_line(cmd: &LocationCommand) -> String {
    match cmd {
        LocationCommand::List => "location list".to_owned(),
    }
}

fn role(r: RoleArg) -> Role {
    match r {
        RoleArg::Admin => Role::Admin,
        RoleArg::ReadOnly => Role::ReadOnly,
    }
}

fn split_aor(aor: &str) -> anyhow::Result<(Username, DomainName)> {
    let aor = aor.strip_prefix("sip:").unwrap_or(aor);
    let Some((user, domain)) = aor.rsplit_once('@') else {
        bail!("{aor:?} is not an address of record of the form user@domain");
    };
    Ok((Username::parse(user)?, DomainName::parse(domain)?))
}

/// The one tenant called `name`; an error if there is none or several.
async fn tenant_named(store: &Store, name: &str) -> anyhow::Result<Tenant> {
    let mut found = store.tenants_named(P, name).await?;
    match found.len() {
        0 => bail!("no tenant is called {name:?}"),
        1 => Ok(found.remove(0)),
        n => bail!("{n} tenants are called {name:?}; rename one (tenant list shows them)"),
    }
}

async fn tenant_or_platform(store: &Store, name: Option<&str>) -> anyhow::Result<TenantId> {
    match name {
        Some(n) => Ok(tenant_named(store, n).await?.id),
        None => Ok(store.platform_id()),
    }
}

/// `trunkline tenant …`.
pub async fn tenant(store: Store, cmd: TenantCommand) -> anyhow::Result<()> {
    let store = &store;
    match cmd {
        TenantCommand::Add { name, kind, parent } => {
            let parent = tenant_or_platform(store, parent.as_deref()).await?;
            let kind = match kind {
                TenantKindArg::Reseller => TenantKind::Reseller,
                TenantKindArg::Customer => TenantKind::Customer,
            };
            let t = store
                .create_tenant(&ctx(), kind, parent, &TenantName::parse(&name)?)
                .await?;
            println!("tenant {} {} {:?} created", t.id, kind.as_str(), t.name);
        }
        TenantCommand::List => {
            for t in all(
                |page| store.list_tenants(P, TenantFilter::default(), page),
                |t| t.id.0,
            )
            .await?
            {
                let parent = t.parent_id.map_or("-".to_owned(), |p| p.to_string());
                println!(
                    "{}\t{}\tparent {}\t{}",
                    t.id,
                    t.kind.as_str(),
                    parent,
                    t.name
                );
            }
        }
    }
    Ok(())
}

/// `trunkline domain …`.
pub async fn domain(store: Store, cmd: DomainCommand) -> anyhow::Result<()> {
    let store = &store;
    match cmd {
        DomainCommand::Add { name, customer } => {
            let name = DomainName::parse(&name)?;
            let customer = match store.tenants_named(P, &customer).await?.as_slice() {
                [] => {
                    let t = store
                        .create_tenant(
                            &ctx(),
                            TenantKind::Customer,
                            store.platform_id(),
                            &TenantName::parse(&customer)?,
                        )
                        .await?;
                    println!("customer {} {:?} created", t.id, t.name);
                    t
                }
                [one] => one.clone(),
                _ => bail!("several tenants are called {customer:?}; rename one"),
            };
            let d = store.create_domain(&ctx(), customer.id, &name).await?;
            println!(
                "domain {} {} created for customer {:?}",
                d.id, d.name, customer.name
            );
        }
        DomainCommand::List => {
            for d in all(|page| store.list_domains(P, None, page), |d| d.id.0).await? {
                println!("{}\t{}\tcustomer {}", d.id, d.name, d.customer_id);
            }
        }
        DomainCommand::Del { name } => {
            let d = store.domain_by_name(P, &DomainName::parse(&name)?).await?;
            store.delete_domain(&ctx(), d.id).await?;
            println!("domain {} deleted", d.name);
        }
    }
    Ok(())
}

/// `trunkline user …`.
pub async fn user(store: Store, cmd: UserCommand) -> anyhow::Result<()> {
    let store = &store;
    match cmd {
        UserCommand::Add {
            aor,
            password,
            caller_id,
            max_calls,
            disabled,
            record,
        } => {
            let (username, domain) = split_aor(&aor)?;
            let d = store.domain_by_name(P, &domain).await?;
            let mut new = NewUser::new(d.id, username, Password::parse(&password)?);
            new.caller_id = caller_id.as_deref().map(CallerId::parse).transpose()?;
            new.max_calls = max_calls;
            new.enabled = !disabled;
            new.record_calls = record;
            let u = store.create_user(&ctx(), &new).await?;
            println!("user {} {}@{} created", u.id, u.username, u.domain);
        }
        UserCommand::List { domain } => {
            let domain_id = match domain {
                Some(d) => Some(store.domain_by_name(P, &DomainName::parse(&d)?).await?.id),
                None => None,
            };
            for u in all(|page| store.list_users(P, domain_id, page), |u| u.id.0).await? {
                println!(
                    "{}\t{}@{}\t{}\tcaller-id {}\tmax-calls {}{}",
                    u.id,
                    u.username,
                    u.domain,
                    if u.enabled { "enabled" } else { "disabled" },
                    u.caller_id.as_deref().unwrap_or("-"),
                    u.max_calls.map_or("-".to_owned(), |n| n.to_string()),
                    if u.record_calls { "\trecorded" } else { "" },
                );
            }
        }
        UserCommand::Set {
            aor,
            password,
            enabled,
            record,
        } => {
            let (username, domain) = split_aor(&aor)?;
            let u = store.user_by_aor(P, &username, &domain).await?;
            let update = UserUpdate {
                password: password.as_deref().map(Password::parse).transpose()?,
                enabled,
                record_calls: record,
                ..UserUpdate::default()
            };
            store.update_user(&ctx(), u.id, &update).await?;
            println!("user {}@{} updated", u.username, u.domain);
        }
        UserCommand::Import { file } => {
            let text = if file.as_os_str() == "-" {
                std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
            } else {
                std::fs::read_to_string(&file)
                    .with_context(|| format!("cannot read {}", file.display()))?
            };
            let mut domains = std::collections::HashMap::new();
            let mut created = 0usize;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                let at = || format!("{}:{}", file.display(), i + 1);
                let Some((aor, password)) = line.split_once(',') else {
                    bail!("{}: expected user@domain,password", at());
                };
                let (username, domain) = split_aor(aor.trim()).with_context(at)?;
                let domain_id = match domains.get(domain.as_str()) {
                    Some(id) => *id,
                    None => {
                        let d = store.domain_by_name(P, &domain).await.with_context(at)?;
                        domains.insert(domain.as_str().to_owned(), d.id);
                        d.id
                    }
                };
                let password = Password::parse(password.trim()).with_context(at)?;
                let new = NewUser::new(domain_id, username, password);
                store.create_user(&ctx(), &new).await.with_context(at)?;
                created += 1;
            }
            println!("{created} users created");
        }
        UserCommand::Del { aor } => {
            let (username, domain) = split_aor(&aor)?;
            let u = store.user_by_aor(P, &username, &domain).await?;
            store.delete_user(&ctx(), u.id).await?;
            println!("user {}@{} deleted", u.username, u.domain);
        }
    }
    Ok(())
}

/// `trunkline did …`.
pub async fn did(store: Store, cmd: DidCommand) -> anyhow::Result<()> {
    let store = &store;
    match cmd {
        DidCommand::Add { number, to } => {
            let e164 = E164::parse(&number)?;
            let (username, domain) = split_aor(&to)?;
            let u = store.user_by_aor(P, &username, &domain).await?;
            let d = store
                .create_did(&ctx(), u.customer_id, &e164, Some(u.id))
                .await?;
            println!("did {} {} → {}@{}", d.id, d.e164, u.username, u.domain);
        }
        DidCommand::List => {
            for d in all(|page| store.list_dids(P, None, page), |d| d.id.0).await? {
                let target = match d.user_id {
                    Some(id) => match store.get_user(P, id).await {
                        Ok(u) => format!("{}@{}", u.username, u.domain),
                        Err(_) => format!("user {id}"),
                    },
                    None => "-".to_owned(),
                };
                println!(
                    "{}\t{}\tcustomer {}\t→ {target}",
                    d.id, d.e164, d.customer_id
                );
            }
        }
        DidCommand::Del { number } => {
            let d = store.did_by_number(P, &E164::parse(&number)?).await?;
            store.delete_did(&ctx(), d.id).await?;
            println!("did {} deleted", d.e164);
        }
    }
    Ok(())
}

/// `trunkline apikey …`.
pub async fn apikey(store: Store, cmd: ApiKeyCommand) -> anyhow::Result<()> {
    let store = &store;
    match cmd {
        ApiKeyCommand::Create { role: r, tenant } => {
            let tenant = tenant_or_platform(store, tenant.as_deref()).await?;
            let (key, secret) = store.create_api_key(&ctx(), tenant, role(r)).await?;
            eprintln!(
                "api key {} ({}) for tenant {}; it is shown only now:",
                key.id,
                key.role.as_str(),
                key.tenant_id
            );
            println!("{}", secret.expose());
        }
        ApiKeyCommand::List => {
            for k in all(|page| store.list_api_keys(P, page), |k| k.id.0).await? {
                println!(
                    "{}\ttenant {}\t{}\t{}",
                    k.id,
                    k.tenant_id,
                    k.role.as_str(),
                    if k.revoked { "revoked" } else { "active" }
                );
            }
        }
        ApiKeyCommand::Revoke { id } => {
            store
                .revoke_api_key(&ctx(), trunkline_store::ApiKeyId(id))
                .await?;
            println!("api key {id} revoked");
        }
    }
    Ok(())
}

/// `trunkline account …`.
pub async fn account(store: Store, cmd: AccountCommand) -> anyhow::Result<()> {
    let store = &store;
    match cmd {
        AccountCommand::Add {
            login,
            password,
            role: r,
            tenant,
        } => {
            let tenant = tenant_or_platform(store, tenant.as_deref()).await?;
            let password = Password::parse_as("account.password", &password)?;
            let a = store
                .create_account(&ctx(), tenant, &Login::parse(&login)?, &password, role(r))
                .await?;
            println!("account {} {} ({}) created", a.id, a.login, a.role.as_str());
        }
        AccountCommand::List => {
            for a in all(|page| store.list_accounts(P, None, page), |a| a.id.0).await? {
                println!(
                    "{}\t{}\ttenant {}\t{}\t{}",
                    a.id,
                    a.login,
                    a.tenant_id,
                    a.role.as_str(),
                    if a.enabled { "enabled" } else { "disabled" }
                );
            }
        }
    }
    Ok(())
}

/// Every row of a paginated list.
async fn all<T, F, Fut>(mut fetch: F, id: impl Fn(&T) -> i64) -> anyhow::Result<Vec<T>>
where
    F: FnMut(trunkline_store::Page) -> Fut,
    Fut: Future<Output = Result<Vec<T>, trunkline_store::StoreError>>,
{
    let mut out = Vec::new();
    let mut page = trunkline_store::Page::first(trunkline_store::Page::MAX_LIMIT);
    loop {
        let rows = fetch(page).await?;
        let full = rows.len() == page.limit as usize;
        page.after = rows.last().map(&id);
        out.extend(rows);
        if !full {
            return Ok(out);
        }
    }
}
