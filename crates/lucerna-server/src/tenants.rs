//! [`Tenants`]: every tenant of the server, on one merge scheduler and one
//! page budget.
//!
//! * A tenant is opened on its first use, or at startup when its directory
//!   exists under `--data` (so its log is replayed before the first
//!   request). Opening is serialized by one lock: two first requests of a
//!   tenant open it once.
//! * A tenant whose index cannot be opened is remembered with its error
//!   (`/health` shows it quarantined, requests get 503); each request
//!   tries to open it again.
//! * Shutdown: [`begin_shutdown`](Tenants::begin_shutdown) refuses new
//!   bulk requests, [`in_flight`](Tenants::in_flight) counts the ones
//!   running, and [`close_all`](Tenants::close_all) commits and closes
//!   every writer, then shuts the scheduler down.
//!
//! Every method that may open, commit or close blocks: call it on the
//! blocking pool.

use crate::config::ServerConfig;
use crate::error::ServerError;
use crate::tenant::Tenant;
use crate::tenant_name::TenantName;
use lucerna::index::PageBudget;
use lucerna::merge::{MergeScheduler, ShutdownMode};
use parking_lot::{Mutex, RwLock};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

/// A tenant as the registry knows it.
#[derive(Clone)]
pub enum Slot {
    /// Open and serving.
    Open(Arc<Tenant>),
    /// Its index could not be opened: why.
    Failed(String),
}

/// Every tenant of the server.
pub struct Tenants {
    config: Arc<ServerConfig>,
    scheduler: Arc<MergeScheduler>,
    budget: Arc<PageBudget>,
    slots: RwLock<BTreeMap<TenantName, Slot>>,
    /// Serializes opening.
    opening: Mutex<()>,
    shutting_down: AtomicBool,
    in_flight: AtomicUsize,
}

/// Counts a bulk request in flight while it lives.
pub struct InFlight<'a>(&'a Tenants);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Tenants {
    /// The registry, with its merge scheduler started (no tenant open yet).
    pub fn new(config: Arc<ServerConfig>) -> Result<Tenants, ServerError> {
        let scheduler = MergeScheduler::new(config.scheduler.clone())
            .map_err(|e| ServerError::config("--merge-threads", "", e))?;
        std::fs::create_dir_all(&config.data).map_err(|source| ServerError::Io {
            what: format!("cannot create the data directory {}", config.data.display()),
            source,
        })?;
        Ok(Tenants {
            budget: PageBudget::new(config.page_budget_bytes),
            scheduler: Arc::new(scheduler),
            config,
            slots: RwLock::new(BTreeMap::new()),
            opening: Mutex::new(()),
            shutting_down: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The shared merge scheduler.
    pub fn scheduler(&self) -> &Arc<MergeScheduler> {
        &self.scheduler
    }

    /// The shared page budget.
    pub fn page_budget(&self) -> &Arc<PageBudget> {
        &self.budget
    }

    /// Opens every tenant whose directory exists under the data directory
    /// (replaying their logs). Directories whose names are not tenant
    /// names are left alone.
    pub fn open_existing(&self) -> Result<(), ServerError> {
        let entries = std::fs::read_dir(&self.config.data).map_err(|source| ServerError::Io {
            what: format!("cannot list {}", self.config.data.display()),
            source,
        })?;
        for entry in entries.flatten() {
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            let name = entry.file_name();
            let Some(name) = name.to_str().and_then(|n| TenantName::parse(n).ok()) else {
                continue;
            };
            if is_dir {
                // A failure is remembered in its slot; the others open.
                let _ = self.open(&name);
            }
        }
        Ok(())
    }

    /// The tenant `name`, opened (and created) if needed.
    pub fn get_or_create(&self, name: &TenantName) -> Result<Arc<Tenant>, ServerError> {
        if let Some(Slot::Open(t)) = self.slots.read().get(name) {
            return Ok(t.clone());
        }
        self.open(name)
    }

    /// The tenant `name` if it exists (opened if its directory exists).
    pub fn get(&self, name: &TenantName) -> Result<Arc<Tenant>, ServerError> {
        if let Some(Slot::Open(t)) = self.slots.read().get(name) {
            return Ok(t.clone());
        }
        if !self.config.data.join(name.as_str()).is_dir() {
            return Err(ServerError::UnknownTenant(name.clone()));
        }
        self.open(name)
    }

    fn open(&self, name: &TenantName) -> Result<Arc<Tenant>, ServerError> {
        let _opening = self.opening.lock();
        if let Some(Slot::Open(t)) = self.slots.read().get(name) {
            return Ok(t.clone());
        }
        if self.is_shutting_down() {
            return Err(ServerError::ShuttingDown);
        }
        match Tenant::open(
            &self.config,
            name.clone(),
            self.scheduler.clone(),
            self.budget.clone(),
        ) {
            Ok(t) => {
                let t = Arc::new(t);
                self.slots
                    .write()
                    .insert(name.clone(), Slot::Open(t.clone()));
                Ok(t)
            }
            Err(e) => {
                tracing::error!(
                    target: "lucerna_server",
                    tenant = %name,
                    error = %e,
                    "tenant index cannot be opened"
                );
                let error = e.to_string();
                self.slots
                    .write()
                    .insert(name.clone(), Slot::Failed(error.clone()));
                Err(ServerError::TenantUnavailable {
                    tenant: name.clone(),
                    error,
                })
            }
        }
    }

    /// Every tenant known, by name.
    pub fn snapshot(&self) -> Vec<(TenantName, Slot)> {
        self.slots
            .read()
            .iter()
            .map(|(n, s)| (n.clone(), s.clone()))
            .collect()
    }

    /// Counts a bulk request in flight, or refuses it while shutting down.
    pub fn enter(&self) -> Result<InFlight<'_>, ServerError> {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        let guard = InFlight(self);
        if self.is_shutting_down() {
            return Err(ServerError::ShuttingDown);
        }
        Ok(guard)
    }

    /// Bulk requests running now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }

    /// From now on bulk requests are refused (503).
    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Whether shutdown began.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Commits and closes every tenant's writer, then shuts the merge
    /// scheduler down (joining its threads). Errors are logged; every
    /// tenant is tried.
    pub fn close_all(&self) {
        self.begin_shutdown();
        for (name, slot) in self.snapshot() {
            if let Slot::Open(t) = slot {
                match t.close() {
                    Ok(()) => tracing::info!(
                        target: "lucerna_server",
                        tenant = %name,
                        generation = t.writer().last_commit_generation(),
                        "tenant committed and closed"
                    ),
                    Err(e) => tracing::error!(
                        target: "lucerna_server",
                        tenant = %name,
                        error = %e,
                        "tenant could not be committed at shutdown (its log holds every acknowledged write)"
                    ),
                }
            }
        }
        self.scheduler.shutdown(ShutdownMode::Abort);
    }
}
