//! Test harness for Herald's end-to-end tests: start the real `herald` binary on ports it picks
//! itself ([`process`]), and run local subscribers that record what they receive and answer as
//! told ([`subscriber`]); [`client`] runs client commands for their JSON or in the background.
//! Also the `herald-bench` benchmark tool ([`bench`]).

pub mod bench;
pub mod client;
pub mod process;
pub mod subscriber;

/// Polls `check` every 20 ms until it returns true or `timeout` passes; returns whether it did.
pub async fn eventually(
    timeout: std::time::Duration,
    mut check: impl AsyncFnMut() -> bool,
) -> bool {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
