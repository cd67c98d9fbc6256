//! Chromium and ChromeDriver: where they are, and the `chromedriver`
//! process.
//!
//! `chromedriver` is started with `--port=0` and tells which port it took
//! on its stdout, so there is no race for a "free" port. It runs in a
//! process group of its own, and the browsers it starts inherit it, so
//! dropping a [`Driver`] kills the whole group: no Chromium is left behind
//! by a test that panics before it closes its session.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::browser::Browser;
use crate::Error;

/// Where Debian's `chromium` package puts the browser.
const DEFAULT_CHROMIUM: &str = "/usr/bin/chromium";
/// Where Debian's `chromium-driver` package puts the driver.
const DEFAULT_CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long `chromedriver` may take to say it listens.
const DRIVER_START: Duration = Duration::from_secs(20);

/// An installed Chromium and ChromeDriver.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// The browser binary (`CHROME_BIN`, else `/usr/bin/chromium`).
    pub chromium: PathBuf,
    /// The driver binary (`CHROMEDRIVER`, else `/usr/bin/chromedriver`).
    pub chromedriver: PathBuf,
}

impl Chrome {
    /// Finds both binaries, from `CHROME_BIN` and `CHROMEDRIVER` or at
    /// Debian's paths; `Err` says which one is missing.
    pub fn find() -> Result<Chrome, String> {
        let chromium = binary("CHROME_BIN", DEFAULT_CHROMIUM)?;
        let chromedriver = binary("CHROMEDRIVER", DEFAULT_CHROMEDRIVER)?;
        Ok(Chrome {
            chromium,
            chromedriver,
        })
    }

    /// [`Chrome::find`], printing why the calling test is skipped when a
    /// binary is missing (the test then returns early and passes).
    pub fn find_or_skip() -> Option<Chrome> {
        match Chrome::find() {
            Ok(chrome) => Some(chrome),
            Err(why) => {
                eprintln!("skipped: {why} (install Debian's chromium and chromium-driver)");
                None
            }
        }
    }

    /// Starts `chromedriver` and a headless Chromium session on it.
    pub async fn launch(&self) -> Result<Browser, Error> {
        let driver = Driver::start(&self.chromedriver).await?;
        Browser::connect(driver, &self.chromium).await
    }

    /// [`Chrome::launch`] with more command-line flags (after
    /// [`CHROMIUM_FLAGS`](crate::browser::CHROMIUM_FLAGS)).
    pub async fn launch_with_flags(&self, flags: &[&str]) -> Result<Browser, Error> {
        let driver = Driver::start(&self.chromedriver).await?;
        let args: Vec<&str> = crate::browser::CHROMIUM_FLAGS
            .iter()
            .chain(flags)
            .copied()
            .collect();
        let mut extra = serde_json::Map::new();
        extra.insert("args".into(), serde_json::json!(args));
        Browser::connect_with(driver, &self.chromium, extra).await
    }

    /// [`Chrome::launch`], saving downloads into `dir` without asking.
    pub async fn launch_with_downloads(&self, dir: &Path) -> Result<Browser, Error> {
        let driver = Driver::start(&self.chromedriver).await?;
        let mut extra = serde_json::Map::new();
        extra.insert(
            "prefs".into(),
            serde_json::json!({
                "download.default_directory": dir.display().to_string(),
                "download.prompt_for_download": false,
                "download.directory_upgrade": true,
                "safebrowsing.enabled": false,
            }),
        );
        Browser::connect_with(driver, &self.chromium, extra).await
    }
}

/// `var` if set, else `default`, if that file exists.
fn binary(var: &str, default: &str) -> Result<PathBuf, String> {
    let path = std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from);
    if path.is_file() {
        Ok(path)
    } else {
        Err(format!(
            "{} not found (set {var} to its path)",
            path.display()
        ))
    }
}

/// A running `chromedriver`, killed with its process group on drop.
#[derive(Debug)]
pub struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    /// Starts `chromedriver` at `path` on a port of its choosing and waits
    /// until it says it listens.
    pub async fn start(path: &Path) -> Result<Driver, Error> {
        let mut child = Command::new(path)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            // Not inherited: a driver that outlived the test would hold the
            // test runner's output open.
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        let stdout = child.stdout.take().ok_or("chromedriver has no stdout")?;
        // Built before the wait, so a failed wait still kills the process.
        let mut driver = Driver { child, port: 0 };
        driver.port = tokio::time::timeout(DRIVER_START, listening_port(stdout))
            .await
            .map_err(|_| "chromedriver did not say it listens within 20 s")??;
        Ok(driver)
    }

    /// The WebDriver endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The id of the process group of the driver and its browsers (the
    /// driver's pid), while it runs.
    pub fn process_group(&self) -> Option<u32> {
        self.child.id()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is the driver's pid (`process_group(0)`); the
        // browser and its helpers are in that group too.
        if let Some(pid) = self.process_group() {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

/// Reads `chromedriver`'s stdout up to "…started successfully on port N."
/// and keeps draining it afterwards, so the pipe never fills.
async fn listening_port(stdout: ChildStdout) -> Result<u16, Error> {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        let Some(rest) = line.split("started successfully on port ").nth(1) else {
            continue;
        };
        let port = rest.trim_end_matches('.').trim().parse::<u16>()?;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        return Ok(port);
    }
    Err("chromedriver exited before it listened".into())
}
