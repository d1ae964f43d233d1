//! Push-delivery benchmark: starts one or several `nyckel-server` children (several share one
//! PostgreSQL), re-executes itself as client processes that enroll software phones and keep
//! each long-polling on its own connection, creates push challenges at a steady rate and
//! reports delivery latency (created → phone has it), approvals, errors and the servers' memory.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use nyckel_protocol::agreement::EphemeralKey;
use nyckel_protocol::enrollment::EnrollmentStarted;
use nyckel_protocol::wire::phone::PendingChallenges;
use nyckel_protocol::wire::relying_party::PushChallengeCreated;
use nyckel_protocol::{
    Answer, CompleteEnrollment, DeviceId, EnrollmentReceipt, PinSecret, QrPayload, RequestAuth, SoftwareDeviceKey,
};

#[derive(Parser)]
#[command(about = "Nyckel push-delivery benchmark")]
struct Args {
    /// Simulated phones, each on its own long-polling connection.
    #[arg(long, default_value_t = 10_000)]
    phones: usize,
    /// Push challenges created per second (in total, over every client process).
    #[arg(long, default_value_t = 200)]
    rate: u64,
    /// Seconds of challenge creation (longer than the 30 s poll, so re-polls are included).
    #[arg(long, default_value_t = 45)]
    seconds: u64,
    /// Concurrent enrollments during setup (per client process).
    #[arg(long, default_value_t = 32)]
    enroll_concurrency: usize,
    /// Phones that start polling per second (over every client process), as real phones
    /// arrive over time rather than all in one instant.
    #[arg(long, default_value_t = 1000)]
    connect_rate: u64,
    /// Server instances started as children; more than one needs `--database-url`.
    #[arg(long, default_value_t = 1)]
    instances: usize,
    /// Client processes (this binary re-executed) that hold the phones' connections.
    #[arg(long, default_value_t = 1)]
    clients: usize,
    /// Where a phone's challenges are created: on the instance it polls, or the next one.
    #[arg(long, value_enum, default_value_t = CreateOn::Same)]
    create_on: CreateOn,
    /// PostgreSQL for every instance (else one sled instance in a temporary directory).
    #[arg(long, env = "NYCKEL_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// The server binary (default: `nyckel-server` next to this one).
    #[arg(long)]
    server: Option<PathBuf>,
    /// Internal: run as client process N of `--clients` (set by the coordinator).
    #[arg(long, hide = true)]
    client_index: Option<usize>,
    /// Internal: the instances' addresses, comma-separated (set by the coordinator).
    #[arg(long, hide = true)]
    addrs: Option<String>,
    /// Internal: the relying party's API key (set by the coordinator).
    #[arg(long, hide = true, env = "NYCKEL_BENCH_RP_KEY", hide_env_values = true)]
    rp_key: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CreateOn {
    /// The instance the phone polls.
    Same,
    /// The next instance (needs cross-instance wake-ups).
    Other,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// One HTTP/1.1 connection of its own.
struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl Conn {
    async fn open(addr: &str) -> Result<Self, Error> {
        let stream = tokio::net::TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Self { sender, host: addr.to_owned() })
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, String)],
        body: Vec<u8>,
    ) -> Result<(u16, Bytes), Error> {
        let mut req = hyper::Request::builder().method(method).uri(path).header("host", &self.host);
        for (name, value) in headers {
            req = req.header(*name, value);
        }
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        self.sender.ready().await?;
        let resp = self.sender.send_request(req.body(Full::new(Bytes::from(body)))?).await?;
        let status = resp.status().as_u16();
        Ok((status, resp.into_body().collect().await?.to_bytes()))
    }
}

struct Phone {
    key: SoftwareDeviceKey,
    secret: PinSecret,
    device_id: DeviceId,
}

impl Phone {
    async fn signed(&self, conn: &mut Conn, method: &str, path: &str, body: Vec<u8>) -> Result<(u16, Bytes), Error> {
        let auth = RequestAuth::sign(&self.key, &self.device_id, method, path, &body, unix_now())?;
        let headers: Vec<(&str, String)> = auth.to_headers().into_iter().collect();
        conn.send(method, path, &headers, body).await
    }
}

#[derive(Default)]
struct Shared {
    created: Mutex<HashMap<String, Instant>>,
    delivered: Mutex<HashMap<String, Instant>>,
    approvals: AtomicU64,
    answer_errors: AtomicU64,
    poll_errors: AtomicU64,
    polling: AtomicUsize,
    stop: AtomicBool,
}

async fn enroll(addr: &str, rp_key: &str, user: &str, rp: &mut Conn) -> Result<Phone, Error> {
    let auth = [("authorization", format!("Bearer {rp_key}"))];
    let body = serde_json::to_vec(&serde_json::json!({"user": user, "device_name": "bench"}))?;
    let (status, bytes) = rp.send("POST", "/v1/enrollments", &auth, body).await?;
    if status != 200 {
        return Err(format!("enrollment start: {status} {}", String::from_utf8_lossy(&bytes)).into());
    }
    let started: EnrollmentStarted = serde_json::from_slice(&bytes)?;
    let QrPayload::Enroll(qr) = QrPayload::parse(&started.qr)? else {
        return Err("not an enrollment code".into());
    };
    let key = SoftwareDeviceKey::generate()?;
    let (ephemeral, share) = EphemeralKey::generate()?;
    let req = CompleteEnrollment::create(&qr, &key, &share, "bench")?;
    let mut conn = Conn::open(addr).await?;
    let (status, bytes) = conn.send("POST", "/v1/enroll", &[], serde_json::to_vec(&req)?).await?;
    if status != 200 {
        return Err(format!("enroll: {status} {}", String::from_utf8_lossy(&bytes)).into());
    }
    let receipt: EnrollmentReceipt = serde_json::from_slice(&bytes)?;
    let secret = receipt.accept(&qr, &nyckel_protocol::DeviceSigner::public_key(&key), ephemeral, &share)?;
    Ok(Phone { key, secret, device_id: receipt.device_id })
}

async fn run_phone(addr: String, phone: Phone, shared: Arc<Shared>) {
    let mut conn = match Conn::open(&addr).await {
        Ok(c) => c,
        Err(_) => {
            shared.poll_errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut first = true;
    while !shared.stop.load(Ordering::Relaxed) {
        if first {
            shared.polling.fetch_add(1, Ordering::Relaxed);
            first = false;
        }
        let polled = phone.signed(&mut conn, "GET", "/v1/device/challenges?wait=30", Vec::new()).await;
        let received = Instant::now();
        let pending: PendingChallenges = match polled {
            Ok((200, bytes)) => match serde_json::from_slice(&bytes) {
                Ok(p) => p,
                Err(_) => {
                    shared.poll_errors.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            },
            _ => {
                shared.poll_errors.fetch_add(1, Ordering::Relaxed);
                // As the phone app does: back off before polling again, not a retry storm.
                tokio::time::sleep(Duration::from_secs(1)).await;
                match Conn::open(&addr).await {
                    Ok(c) => conn = c,
                    Err(_) => return,
                }
                continue;
            }
        };
        for signed in pending.challenges {
            let c = signed.challenge;
            shared.delivered.lock().unwrap_or_else(|p| p.into_inner()).entry(c.id.to_string()).or_insert(received);
            let Ok(answer) = Answer::approve(&c, None, unix_now(), &phone.key, &phone.secret) else { continue };
            let path = format!("/v1/device/challenges/{}/answer", c.id);
            let body = serde_json::to_vec(&answer).unwrap_or_default();
            match phone.signed(&mut conn, "POST", &path, body).await {
                Ok((200, _)) => shared.approvals.fetch_add(1, Ordering::Relaxed),
                _ => shared.answer_errors.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Peak resident memory of a process, KiB.
fn vm_hwm_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:").unwrap_or(0)
}

/// Current resident memory of a process, KiB.
fn vm_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:").unwrap_or(0)
}

/// Raises this process's open-file limit to its hard limit (children inherit it) and returns it.
fn raise_nofile() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            }
        }
    }
    lim.rlim_cur
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Files a process needs besides its phones' connections (enrollment and relying-party
/// connections, the runtime, the database pool, logs).
const FD_SLACK: usize = 400;

fn main() -> Result<(), Error> {
    let args = Args::parse();
    // The admin functions that write the bench's tenant, users and relying party read the
    // database from the environment, as the binary's admin commands do; set here, before any
    // thread exists.
    if let Some(url) = args.database_url.as_deref().filter(|u| !u.is_empty() && args.client_index.is_none()) {
        std::env::set_var("NYCKEL_DATABASE_URL", url);
    }
    let nofile = raise_nofile();
    match args.client_index {
        Some(index) => {
            let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            runtime.block_on(client(args, index, nofile))
        }
        None => coordinator(args, nofile),
    }
}

/// Which instance phone `j` polls, and which client process holds it: instances round-robin,
/// and each client holds phones of every instance.
fn instance_of(j: usize, instances: usize) -> usize {
    j % instances
}

fn client_of(j: usize, instances: usize, clients: usize) -> usize {
    (j / instances) % clients
}

/// One client process's results, sent to the coordinator as one JSON line.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct ClientReport {
    /// Delivery latencies, milliseconds.
    latencies_ms: Vec<f64>,
    created: usize,
    create_secs: f64,
    approvals: u64,
    window_secs: f64,
    create_errors: u64,
    poll_errors: u64,
    answer_errors: u64,
    enroll_secs: f64,
    peak_rss_kib: u64,
}

/// Reads the coordinator's next command from stdin.
async fn expect_line(expected: &'static str) -> Result<(), Error> {
    let line = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await??;
    if line.trim() != expected {
        return Err(format!("expected {expected:?} from the coordinator, got {line:?}").into());
    }
    Ok(())
}

fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

async fn client(args: Args, index: usize, nofile: u64) -> Result<(), Error> {
    let addrs: Vec<String> = args.addrs.as_deref().ok_or("--addrs is missing")?.split(',').map(str::to_owned).collect();
    let rp_key = args.rp_key.clone().ok_or("the relying-party key is missing")?;
    let (k, c) = (addrs.len(), args.clients.max(1));
    let mine: Vec<usize> = (0..args.phones).filter(|&j| client_of(j, k, c) == index).collect();
    if mine.len() + FD_SLACK > nofile as usize {
        return Err(
            format!("client {index} would hold {} connections; its open-file limit is {nofile}", mine.len()).into()
        );
    }
    let setup = Instant::now();
    let phones = Arc::new(Mutex::new(Vec::with_capacity(mine.len())));
    let next = Arc::new(AtomicUsize::new(0));
    let mine = Arc::new(mine);
    let mut workers = Vec::new();
    for _ in 0..args.enroll_concurrency.max(1) {
        let (addrs, rp_key, mine, phones, next) =
            (addrs.clone(), rp_key.clone(), mine.clone(), phones.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut rps: Vec<Option<Conn>> = (0..addrs.len()).map(|_| None).collect();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some(&j) = mine.get(n) else { return Ok::<(), Error>(()) };
                let i = instance_of(j, addrs.len());
                let rp = match &mut rps[i] {
                    Some(rp) => rp,
                    slot => slot.insert(Conn::open(&addrs[i]).await?),
                };
                let phone = enroll(&addrs[i], &rp_key, &format!("user{j}"), rp).await?;
                phones.lock().unwrap_or_else(|p| p.into_inner()).push((j, phone));
            }
        }));
    }
    for w in workers {
        w.await??;
    }
    let enroll_secs = setup.elapsed().as_secs_f64();
    let mut phones = std::mem::take(&mut *phones.lock().unwrap_or_else(|p| p.into_inner()));
    phones.sort_by_key(|(j, _)| *j);
    say(&format!("enrolled {}", phones.len()));
    expect_line("connect").await?;

    let count = phones.len();
    let shared = Arc::new(Shared::default());
    let connect_start = Instant::now();
    let connect_rate = (args.connect_rate / c as u64).max(1);
    let mut connect_tick = tokio::time::interval(Duration::from_nanos(50_000_000_000 / connect_rate));
    connect_tick.tick().await;
    for (n, (j, phone)) in phones.into_iter().enumerate() {
        tokio::spawn(run_phone(addrs[instance_of(j, k)].clone(), phone, shared.clone()));
        // This client's share of the connect rate, in batches of 50.
        if n % 50 == 49 {
            connect_tick.tick().await;
        }
    }
    while shared.polling.load(Ordering::Relaxed) < count {
        if connect_start.elapsed() > Duration::from_secs(180) {
            return Err(
                format!("{} of {count} phones connected in 180 s", shared.polling.load(Ordering::Relaxed)).into()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the first polls reach the servers and park.
    tokio::time::sleep(Duration::from_secs(3)).await;
    say("polling");
    expect_line("go").await?;

    // This client's share of the rate, over relying-party connections to every instance.
    let rate = args.rate * (index as u64 + 1) / c as u64 - args.rate * index as u64 / c as u64;
    let per_instance = (64 / k).max(8);
    let mut pools = Vec::with_capacity(k);
    for addr in &addrs {
        let mut pool = Vec::with_capacity(per_instance);
        for _ in 0..per_instance {
            pool.push(Arc::new(tokio::sync::Mutex::new(Conn::open(addr).await?)));
        }
        pools.push(pool);
    }
    let create_errors = Arc::new(AtomicU64::new(0));
    let approvals_before = shared.approvals.load(Ordering::Relaxed);
    let run_start = Instant::now();
    let total = rate * args.seconds;
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate.max(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut creators = Vec::new();
    for n in 0..total as usize {
        tick.tick().await;
        if mine.is_empty() {
            break;
        }
        let j = mine[n % mine.len()];
        let polled = instance_of(j, k);
        let on = match args.create_on {
            CreateOn::Same => polled,
            CreateOn::Other => (polled + 1) % k,
        };
        let conn = pools[on][(n / k) % per_instance].clone();
        let (shared, errors, rp_key) = (shared.clone(), create_errors.clone(), rp_key.clone());
        creators.push(tokio::spawn(async move {
            let body = serde_json::json!({"user": format!("user{j}"), "context": {"service": "Bench", "action": "Sign in"},
                "transaction": [{"key": "Amount", "value": "100 SEK"}], "number_matching": "none"});
            let mut conn = conn.lock().await;
            let t0 = Instant::now();
            let result = conn
                .send(
                    "POST",
                    "/v1/challenges/push",
                    &[("authorization", format!("Bearer {rp_key}"))],
                    serde_json::to_vec(&body).unwrap_or_default(),
                )
                .await;
            match result {
                Ok((200, bytes)) => match serde_json::from_slice::<PushChallengeCreated>(&bytes) {
                    Ok(created) => {
                        shared
                            .created
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(created.challenge_id.to_string(), t0);
                    }
                    Err(_) => {
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                },
                _ => {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for c in creators {
        let _ = c.await;
    }
    let create_secs = run_start.elapsed().as_secs_f64();
    // Stragglers.
    let drain = Instant::now();
    loop {
        let created = shared.created.lock().unwrap_or_else(|p| p.into_inner()).len();
        let approved = (shared.approvals.load(Ordering::Relaxed) - approvals_before) as usize;
        if approved >= created || drain.elapsed() > Duration::from_secs(10) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let approvals = shared.approvals.load(Ordering::Relaxed) - approvals_before;
    let window_secs = run_start.elapsed().as_secs_f64();
    shared.stop.store(true, Ordering::Relaxed);

    let created = shared.created.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let delivered = shared.delivered.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let latencies_ms: Vec<f64> = created
        .iter()
        .filter_map(|(id, t0)| delivered.get(id).map(|t1| t1.saturating_duration_since(*t0).as_secs_f64() * 1000.0))
        .collect();
    let report = ClientReport {
        latencies_ms,
        created: created.len(),
        create_secs,
        approvals,
        window_secs,
        create_errors: create_errors.load(Ordering::Relaxed),
        poll_errors: shared.poll_errors.load(Ordering::Relaxed),
        answer_errors: shared.answer_errors.load(Ordering::Relaxed),
        enroll_secs,
        peak_rss_kib: vm_hwm_kib(std::process::id()),
    };
    say(&format!("result {}", serde_json::to_string(&report)?));
    // The phones' tasks are still parked in their polls: leave without waiting for them.
    std::process::exit(0)
}

/// A started `nyckel-server` child.
struct Instance {
    child: std::process::Child,
    addr: String,
    /// Kept for the process's lifetime: the data directory.
    _dir: tempfile::TempDir,
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_instance(
    server_bin: &Path,
    dir: tempfile::TempDir,
    kek_file: &Path,
    url: Option<&str>,
) -> Result<Instance, Error> {
    let mut cmd = Command::new(server_bin);
    cmd.arg("--data-dir")
        .arg(dir.path())
        .env("NYCKEL_KEK_FILE", kek_file)
        // Request logs of every poll and answer would measure the terminal, not the server.
        .env("NYCKEL_LOG", "warn")
        // Every bench phone and the bench relying party share 127.0.0.1: the rate limits are
        // raised far above the load.
        .args(["serve", "--listen", "127.0.0.1:0", "--key-rate", "1000000", "--address-rate", "1000000"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    match url {
        Some(url) => cmd.env("NYCKEL_DATABASE_URL", url),
        None => cmd.env_remove("NYCKEL_DATABASE_URL"),
    };
    let mut child = cmd.spawn().map_err(|e| format!("{}: {e}", server_bin.display()))?;
    let stdout = child.stdout.take().ok_or("no server stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let Some(addr) = line.trim().strip_prefix("listening on http://").map(str::to_owned) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!("server did not start: {line:?}").into());
    };
    Ok(Instance { child, addr, _dir: dir })
}

/// Copies the key ring (every plain file of the first instance's data directory, not its
/// sled database) so that every instance signs with the same server key.
fn copy_key_ring(from: &Path, to: &Path) -> Result<(), Error> {
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
    }
    Ok(())
}

/// A client process and the lines it prints.
struct ClientProc {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
}

fn coordinator(args: Args, nofile: u64) -> Result<(), Error> {
    let (k, c) = (args.instances.max(1), args.clients.max(1));
    let url = args.database_url.clone().filter(|u| !u.is_empty());
    if k > 1 && url.is_none() {
        return Err("several instances need --database-url (sled is one process's database)".into());
    }
    if args.phones == 0 || args.rate == 0 {
        return Err("--phones and --rate must be positive".into());
    }
    let per_instance = args.phones.div_ceil(k);
    let per_client = args.phones.div_ceil(c);
    if per_instance + FD_SLACK > nofile as usize {
        return Err(format!(
            "an instance would hold {per_instance} phones but a process may open {nofile} files: use --instances {}",
            args.phones.div_ceil((nofile as usize).saturating_sub(FD_SLACK).max(1))
        )
        .into());
    }
    if per_client + FD_SLACK > nofile as usize {
        return Err(format!(
            "a client process would hold {per_client} phones but a process may open {nofile} files: use --clients {}",
            args.phones.div_ceil((nofile as usize).saturating_sub(FD_SLACK).max(1))
        )
        .into());
    }
    let server_bin = match &args.server {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("nyckel-server"),
    };

    // The records: PostgreSQL when given (the admin functions read $NYCKEL_DATABASE_URL, which
    // clap already took from the environment or the flag), else sled in the first data directory.
    let dirs: Vec<tempfile::TempDir> = (0..k).map(|_| tempfile::tempdir()).collect::<Result<_, _>>()?;
    let kek = tempfile::tempdir()?;
    let kek_file = kek.path().join("kek");
    nyckel_server::secrets::Kek::create_file(&kek_file, dirs[0].path())?;
    let setup = Instant::now();
    let users: Vec<String> = (0..args.phones).map(|i| format!("user{i}")).collect();
    nyckel_server::admin::add_tenant(dirs[0].path(), "bench", "Bench")?;
    if url.is_some() {
        // One transaction per user: on PostgreSQL, several writers share its commits.
        let chunk = users.len().div_ceil(8);
        std::thread::scope(|scope| {
            let writers: Vec<_> = users
                .chunks(chunk)
                .map(|names| scope.spawn(|| nyckel_server::admin::add_users(dirs[0].path(), "bench", names)))
                .collect();
            writers.into_iter().try_for_each(|w| w.join().map_err(|_| "adding users panicked")?.map_err(Error::from))
        })?;
    } else {
        nyckel_server::admin::add_users(dirs[0].path(), "bench", &users)?;
    }
    let rp_key = nyckel_server::admin::add_relying_party(dirs[0].path(), "bench", "bench")?.to_string();
    let users_secs = setup.elapsed().as_secs_f64();

    let mut instances = Vec::with_capacity(k);
    let mut dirs = dirs.into_iter();
    let first = dirs.next().ok_or("no data directory")?;
    let first_path = first.path().to_owned();
    instances.push(start_instance(&server_bin, first, &kek_file, url.as_deref())?);
    for dir in dirs {
        copy_key_ring(&first_path, dir.path())?;
        instances.push(start_instance(&server_bin, dir, &kek_file, url.as_deref())?);
    }
    let addrs: Vec<String> = instances.iter().map(|i| i.addr.clone()).collect();
    let pids: Vec<u32> = instances.iter().map(|i| i.child.id()).collect();
    eprintln!("{k} instance(s) at {}; {c} client process(es) enrolling {} phones…", addrs.join(", "), args.phones);
    let rss_start: Vec<u64> = pids.iter().map(|&p| vm_rss_kib(p)).collect();

    let (tx, rx) = std::sync::mpsc::channel::<(usize, String)>();
    let mut clients = Vec::with_capacity(c);
    let me = std::env::current_exe()?;
    for index in 0..c {
        let mut child = Command::new(&me)
            .args(["--client-index", &index.to_string(), "--clients", &c.to_string()])
            .args(["--phones", &args.phones.to_string(), "--rate", &args.rate.to_string()])
            .args(["--seconds", &args.seconds.to_string()])
            .args(["--enroll-concurrency", &args.enroll_concurrency.to_string()])
            .args(["--connect-rate", &args.connect_rate.to_string()])
            .args(["--create-on", if args.create_on == CreateOn::Same { "same" } else { "other" }])
            .args(["--addrs", &addrs.join(",")])
            .env("NYCKEL_BENCH_RP_KEY", &rp_key)
            .env_remove("NYCKEL_DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no client stdin")?;
        let stdout = child.stdout.take().ok_or("no client stdout")?;
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((index, line)).is_err() {
                    break;
                }
            }
            let _ = tx.send((index, "exited".to_owned()));
        });
        clients.push(ClientProc { child, stdin });
    }
    drop(tx);
    let wait_all = |prefix: &str| -> Result<Vec<String>, Error> {
        let mut got: Vec<Option<String>> = vec![None; c];
        while got.iter().any(Option::is_none) {
            let (index, line) = rx.recv().map_err(|_| "client processes are gone")?;
            if line == "exited" {
                return Err(format!("client {index} exited before {prefix:?} (see its error above)").into());
            }
            if let Some(rest) = line.strip_prefix(prefix) {
                got[index] = Some(rest.trim().to_owned());
            }
        }
        Ok(got.into_iter().flatten().collect())
    };
    let send_all = |clients: &mut Vec<ClientProc>, line: &str| -> Result<(), Error> {
        use std::io::Write;
        for client in clients.iter_mut() {
            writeln!(client.stdin, "{line}")?;
            client.stdin.flush()?;
        }
        Ok(())
    };
    wait_all("enrolled")?;
    let enroll_secs = setup.elapsed().as_secs_f64();
    let rss_enrolled: Vec<u64> = pids.iter().map(|&p| vm_rss_kib(p)).collect();
    eprintln!("enrolled in {enroll_secs:.1} s; connecting phones…");
    send_all(&mut clients, "connect")?;
    wait_all("polling")?;
    std::thread::sleep(Duration::from_secs(2));
    let rss_idle: Vec<u64> = pids.iter().map(|&p| vm_rss_kib(p)).collect();
    eprintln!("{} phones polling; creating {} challenges/s for {} s…", args.phones, args.rate, args.seconds);
    send_all(&mut clients, "go")?;
    let reports: Vec<ClientReport> =
        wait_all("result")?.iter().map(|json| serde_json::from_str(json)).collect::<Result<_, _>>()?;
    for mut client in clients {
        let _ = client.child.wait();
    }
    let server_hwm: Vec<u64> = pids.iter().map(|&p| vm_hwm_kib(p)).collect();
    drop(instances);

    let mut latencies: Vec<f64> = reports.iter().flat_map(|r| r.latencies_ms.iter().copied()).collect();
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
    let created: usize = reports.iter().map(|r| r.created).sum();
    let create_secs = reports.iter().map(|r| r.create_secs).fold(0.0, f64::max);
    let window = reports.iter().map(|r| r.window_secs).fold(0.0, f64::max);
    let approvals: u64 = reports.iter().map(|r| r.approvals).sum();
    let sum = |f: fn(&ClientReport) -> u64| reports.iter().map(f).sum::<u64>();
    let errors = (sum(|r| r.create_errors), sum(|r| r.poll_errors), sum(|r| r.answer_errors));
    let phones_on = |i: usize| (0..args.phones).filter(|&j| instance_of(j, k) == i).count().max(1) as f64;
    let list = |values: Vec<String>| values.join(" / ");
    let mib = |kib: u64| format!("{:.1}", kib as f64 / 1024.0);

    println!("| metric | value |");
    println!("|---|---|");
    println!("| phones long-polling (own connection each) | {} |", args.phones);
    println!(
        "| server instances / client processes | {k} ({}) / {c} |",
        if url.is_some() { "PostgreSQL" } else { "sled" }
    );
    println!(
        "| challenges created | {created} in {create_secs:.1} s ({:.0}/s, target {}, created on the {} instance) |",
        created as f64 / create_secs.max(f64::EPSILON),
        args.rate,
        if args.create_on == CreateOn::Same { "polled" } else { "other" }
    );
    println!("| challenges delivered | {} |", latencies.len());
    println!("| delivery latency p50 | {:.1} ms |", percentile(&latencies, 50.0));
    println!("| delivery latency p90 | {:.1} ms |", percentile(&latencies, 90.0));
    println!("| delivery latency p99 | {:.1} ms |", percentile(&latencies, 99.0));
    println!("| delivery latency max | {:.1} ms |", latencies.last().copied().unwrap_or(f64::NAN));
    println!("| approvals | {approvals} ({:.0}/s) |", approvals as f64 / window.max(f64::EPSILON));
    println!("| errors (create / poll / answer) | {} / {} / {} |", errors.0, errors.1, errors.2);
    println!("| server peak RSS per instance (VmHWM) | {} MiB |", list(server_hwm.iter().map(|&h| mib(h)).collect()));
    println!(
        "| server RSS per idle phone (connected − started) | {} KiB |",
        list(
            (0..k).map(|i| format!("{:.1}", rss_idle[i].saturating_sub(rss_start[i]) as f64 / phones_on(i))).collect()
        )
    );
    println!(
        "| of which the connection (connected − enrolled) | {} KiB |",
        list(
            (0..k)
                .map(|i| format!("{:.1}", rss_idle[i].saturating_sub(rss_enrolled[i]) as f64 / phones_on(i)))
                .collect()
        )
    );
    println!("| bench client peak RSS | {} MiB |", list(reports.iter().map(|r| mib(r.peak_rss_kib)).collect()));
    println!("| setup: users {users_secs:.1} s, enrollment until {enroll_secs:.1} s | |");
    Ok(())
}
