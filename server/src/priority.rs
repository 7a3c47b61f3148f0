//! Scheduling priority: the envelope writer before the request handlers.
//!
//! Every admission waits for the writer's turn (`store::admission`), a chain of round trips
//! between the writer's thread and its SQLite connection's thread. When the handlers' CPU
//! work (TLS, JSON, signatures) keeps both cores busy, each of those wake-ups waits for a
//! core, and the turn, which nothing else can do meanwhile, grows longer; with the
//! handlers' threads at a lower priority, the writer's run as soon as they are woken.
//!
//! Only lowered, never raised (raising needs a privilege), and relative to what the server
//! was started with. Linux only: elsewhere `setpriority` on the calling "process" would
//! lower the whole process, the writer with it.

/// How much lower than the process the handlers' threads run. Five steps of nice give the
/// writer's threads about three times the handlers' share of a busy core.
const HANDLERS_LOWER_BY: i32 = 5;

/// Lowers the calling thread's priority; for the runtime's worker threads
/// (`on_thread_start`), whose threads they spawn (SQLite readers' connections) inherit it.
/// Threads started before the runtime (the envelope writer's and its SQLite connection's,
/// opened by `App::build` on the main thread) keep the process's priority.
pub fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        // On Linux, `None` (who = 0) names the calling thread, not the whole process.
        let lowered = getpriority_process(None)
            .and_then(|nice| setpriority_process(None, (nice + HANDLERS_LOWER_BY).min(19)));
        if let Err(e) = lowered {
            tracing::debug!(error = %e, "request handler thread keeps its priority");
        }
    }
}
