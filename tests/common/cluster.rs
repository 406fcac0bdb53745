//! A real Dask scheduler and worker started from the project's venv on
//! 127.0.0.1, killed when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dask_serde::transport::options::CommOptions;
use dask_serde::transport::proto::get;
use dask_serde::transport::rpc::Rpc;
use dask_serde::Value;

pub struct Cluster {
    pub scheduler: String,
    children: Vec<Child>,
    dir: PathBuf,
}

fn venv_bin(name: &str) -> PathBuf {
    let py = super::python::python();
    py.parent().expect("venv bin dir").join(name)
}

impl Cluster {
    /// Starts a scheduler and `workers` workers; waits (bounded) until the
    /// workers registered.
    pub fn start(workers: usize) -> Cluster {
        Cluster::start_with(workers, &[])
    }

    /// [`Cluster::start`] with extra environment for the Dask processes.
    pub fn start_with(workers: usize, env: &[(&str, &std::path::Path)]) -> Cluster {
        let dir = std::env::temp_dir().join(format!(
            "dask-serde-cluster-{}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("scheduler.json");
        let quiet = |c: &mut Command| {
            c.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            c.env("PYTHONHASHSEED", "0")
                .env("DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT", "20s");
            for (k, v) in env {
                c.env(k, v);
            }
        };
        let mut sched = Command::new(venv_bin("dask"));
        sched.args([
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--no-show",
        ]);
        sched.arg("--scheduler-file").arg(&file);
        quiet(&mut sched);
        let mut children = vec![sched.spawn().expect("start dask scheduler")];
        let deadline = Instant::now() + Duration::from_secs(60);
        let scheduler = loop {
            if let Ok(text) = std::fs::read_to_string(&file) {
                if let Ok(j) = serde_json::from_str::<serde_json::Value>(&text) {
                    if let Some(a) = j["address"].as_str() {
                        break a.to_owned();
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "the scheduler did not start within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        for i in 0..workers {
            let mut w = Command::new(venv_bin("dask"));
            w.args([
                "worker",
                &scheduler,
                "--host",
                "127.0.0.1",
                "--nworkers",
                "1",
                "--nthreads",
                "1",
            ]);
            w.args([
                "--no-dashboard",
                "--memory-limit",
                "0",
                "--name",
                &format!("w{i}"),
            ]);
            w.arg("--local-directory").arg(&dir);
            quiet(&mut w);
            children.push(w.spawn().expect("start dask worker"));
        }
        let c = Cluster {
            scheduler,
            children,
            dir,
        };
        c.wait_for_workers(workers, Duration::from_secs(60));
        c
    }

    fn wait_for_workers(&self, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(mut rpc) = Rpc::connect(&self.scheduler, &CommOptions::default()) {
                if let Ok(id) = rpc.call("identity", vec![]) {
                    if let Some(Value::Dict(w)) = get(&id, "workers") {
                        if w.len() >= n {
                            rpc.close();
                            return;
                        }
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "{n} workers did not register within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Runs a Python snippet in the venv with `ADDR` set to the scheduler
    /// address; returns its stdout (panics with stderr on failure).
    pub fn python(&self, code: &str) -> String {
        let out = Command::new(super::python::python())
            .args(["-c", code])
            .env("ADDR", &self.scheduler)
            .env("PYTHONHASHSEED", "0")
            .stdin(Stdio::null())
            .output()
            .expect("run python");
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self.children.iter_mut().rev() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
