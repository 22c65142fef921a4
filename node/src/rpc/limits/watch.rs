//! The keys storage subscriptions watch: at most [`MAX_WATCHED_KEYS_PER_CLIENT`] per client (IP
//! address, an IPv6 client by its /64) and [`MAX_WATCHED_KEYS`] on the node beyond each
//! client's first [`GUARANTEED_WATCHED_KEYS_PER_CLIENT`], held for each subscription's life.
//!
//! A `state_subscribeStorage` reads every key it watches at each new best block, on the RPC's
//! threads and under the chain's lock, for as long as it lives: its cost is per block, not per
//! request. Within the per-connection bounds alone (64 subscriptions of 1,000 keys on each of
//! 32 connections), one address made every new block cost ~2 M key reads. Counting the keys a
//! client watches, over all its connections, bounds that to [`MAX_WATCHED_KEYS_PER_CLIENT`]
//! reads a block, and the node's total bounds all clients together. The total counts only keys
//! past each client's guaranteed first ones: 16 clients could fill it, and then nobody else
//! could watch even its own account's balance.

use agora_rpc_api::limits::{
    GUARANTEED_WATCHED_KEYS_PER_CLIENT, MAX_WATCHED_KEYS, MAX_WATCHED_KEYS_PER_CLIENT,
};
use agora_rpc_api::{method, Error, ErrorCode};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// The keys watched now: past each client's guaranteed ones, in all (what [`MAX_WATCHED_KEYS`]
/// bounds), and per client (an entry only while it watches some).
#[derive(Default)]
pub(crate) struct Watched {
    keys: Mutex<(usize, HashMap<IpAddr, usize>)>,
}

impl Watched {
    fn lock(&self) -> MutexGuard<'_, (usize, HashMap<IpAddr, usize>)> {
        // A panic while holding the lock leaves counts that are still counts: go on with them.
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `keys` more watched by `client`, until the returned [`Watch`] is dropped; refused, naming
    /// the bound, if the client or the node would watch more than it may.
    pub(crate) fn watch(self: &Arc<Watched>, client: IpAddr, keys: usize) -> Result<Watch, Error> {
        let mut guard = self.lock();
        let (total, clients) = &mut *guard;
        let own = clients.get(&client).copied().unwrap_or(0);
        let refuse = |held: String, bound: usize| {
            Error::new(
                ErrorCode::Busy,
                format!(
                    "{}: {held} and may watch at most {bound}; {keys} more would pass that (end \
                     another subscription first)",
                    method::STATE_SUBSCRIBE_STORAGE
                ),
            )
        };
        if own.saturating_add(keys) > MAX_WATCHED_KEYS_PER_CLIENT {
            let held = format!("this client watches {own} storage keys");
            return Err(refuse(held, MAX_WATCHED_KEYS_PER_CLIENT));
        }
        let shared = beyond_guarantee(own.saturating_add(keys)) - beyond_guarantee(own);
        if total.saturating_add(shared) > MAX_WATCHED_KEYS {
            let held = format!(
                "this node watches {total} storage keys past each client's first \
                 {GUARANTEED_WATCHED_KEYS_PER_CLIENT}"
            );
            return Err(refuse(held, MAX_WATCHED_KEYS));
        }
        *total += shared;
        clients.insert(client, own + keys);
        Ok(Watch {
            watched: self.clone(),
            client,
            keys,
        })
    }

    /// Keys watched by `client` now, and by everyone.
    #[cfg(test)]
    pub(crate) fn held(&self, client: IpAddr) -> (usize, usize) {
        let guard = self.lock();
        (guard.1.get(&client).copied().unwrap_or(0), guard.0)
    }
}

/// The part of `keys` watched by one client that counts against the node's total.
fn beyond_guarantee(keys: usize) -> usize {
    keys.saturating_sub(GUARANTEED_WATCHED_KEYS_PER_CLIENT)
}

/// One subscription's keys, counted until it ends.
pub(crate) struct Watch {
    watched: Arc<Watched>,
    client: IpAddr,
    keys: usize,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut guard = self.watched.lock();
        let (total, clients) = &mut *guard;
        if let Some(own) = clients.get_mut(&self.client) {
            let left = own.saturating_sub(self.keys);
            *total = total.saturating_sub(beyond_guarantee(*own) - beyond_guarantee(left));
            *own = left;
            if *own == 0 {
                clients.remove(&self.client);
            }
        }
    }
}

/// What a call's extensions carry for a storage subscription to count its keys: the node's
/// [`Watched`] and the caller's address (put there by the accept loop).
#[derive(Clone)]
pub(crate) struct WatchBudget {
    pub(crate) watched: Arc<Watched>,
    pub(crate) client: IpAddr,
}

impl WatchBudget {
    /// See [`Watched::watch`].
    pub(crate) fn watch(&self, keys: usize) -> Result<Watch, Error> {
        self.watched.watch(self.client, keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn a_client_watches_at_most_its_share_and_ending_a_subscription_frees_it() {
        let watched = Arc::new(Watched::default());
        let most = watched
            .watch(ip(2), MAX_WATCHED_KEYS_PER_CLIENT)
            .expect("its whole share");
        let over = watched.watch(ip(2), 1).err().expect("one key past it");
        assert_eq!(over.code, ErrorCode::Busy);
        assert!(
            over.message.contains("this client watches"),
            "{}",
            over.message
        );
        assert!(over
            .message
            .contains(&MAX_WATCHED_KEYS_PER_CLIENT.to_string()));
        // Another client is not held up by it, and its first keys are not counted in the
        // node's total.
        let other = watched.watch(ip(3), 10).expect("another client");
        let shared = MAX_WATCHED_KEYS_PER_CLIENT - GUARANTEED_WATCHED_KEYS_PER_CLIENT;
        assert_eq!(watched.held(ip(3)), (10, shared));
        drop(most);
        assert_eq!(watched.held(ip(2)), (0, 0));
        assert!(
            watched.watch(ip(2), 1).is_ok(),
            "freed when its subscription ended"
        );
        drop(other);
        assert_eq!(watched.held(ip(3)), (0, 0));
        assert!(watched.lock().1.is_empty(), "no entry outlives its watches");
    }

    /// The node's total bounds the keys clients watch past their first
    /// `GUARANTEED_WATCHED_KEYS_PER_CLIENT`; those are every client's whatever the others
    /// hold. Before, 16 clients at their share filled the total and nobody else could watch
    /// a single key.
    #[test]
    fn the_node_watches_at_most_its_total_and_every_client_its_first_keys() {
        let watched = Arc::new(Watched::default());
        let guaranteed = GUARANTEED_WATCHED_KEYS_PER_CLIENT;
        let shared = MAX_WATCHED_KEYS_PER_CLIENT - guaranteed;
        let clients = MAX_WATCHED_KEYS / shared;
        let held: Vec<Watch> = (0..clients)
            .map(|n| {
                let client = ip(u8::try_from(n + 2).expect("few clients"));
                watched
                    .watch(client, MAX_WATCHED_KEYS_PER_CLIENT)
                    .expect("within the total")
            })
            .collect();
        let left = MAX_WATCHED_KEYS - clients * shared;
        assert!(left < shared, "the total is nearly full");
        let first = watched.watch(ip(250), guaranteed).expect("its first keys");
        let rest = watched
            .watch(ip(250), left)
            .expect("what the total has left");
        let over = watched.watch(ip(250), 1).err().expect("past the total");
        assert!(
            over.message.contains("this node watches"),
            "{}",
            over.message
        );
        let newcomer = watched
            .watch(ip(251), guaranteed)
            .expect("a newcomer still watches its first keys");
        assert!(watched.watch(ip(251), 1).is_err(), "but no more");
        drop((held, first, rest, newcomer));
        assert_eq!(watched.held(ip(250)), (0, 0));
    }
}
