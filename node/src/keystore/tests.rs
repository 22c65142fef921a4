//! The keystore's choice of key (pure, over committees built by hand) and its files.

use super::*;

const A: AccountId = AccountId([0xa; 32]);
const THIEF: AccountId = AccountId([0xe; 32]);

/// Seats of `account` for `keys`.
fn seats(account: AccountId, keys: &[[u8; 32]]) -> Vec<Seat> {
    keys.iter().map(|&key| Seat { key, account }).collect()
}

#[test]
fn the_old_key_runs_until_its_epoch_ends_and_the_new_one_from_its_own() {
    let (configured, rotated, other) = ([1; 32], [2; 32], [9; 32]);
    let candidates = candidates(configured, BTreeSet::from([rotated]));
    assert_eq!(candidates, [rotated, configured], "the keystore's first");
    let others = seats(THIEF, &[other]);
    let with = |key| [seats(A, &[key]), others.clone()].concat();
    for account in [None, Some(&A)] {
        // Elected mid-epoch: the old key still sits in the current committee.
        let (old, new) = (with(configured), with(rotated));
        assert_eq!(choose(&candidates, &old, Some(&new), account), Some(1));
        // The epoch of the new key is the next block's: switch.
        assert_eq!(choose(&candidates, &new, Some(&new), account), Some(0));
        // A node restarted between the old key's last epoch and the new one's election.
        assert_eq!(choose(&candidates, &others, Some(&new), account), Some(0));
        // In no committee at all (a joiner before its election, a leaver): none.
        assert_eq!(choose(&candidates, &others, None, account), None);
        assert_eq!(choose(&candidates, &others, Some(&others), account), None);
    }
    // The leaked configured key re-registered by someone else beside the rotated one: a
    // starting node takes the rotated key, whether it knows its account or not.
    let both = [seats(THIEF, &[configured]), seats(A, &[rotated])].concat();
    assert_eq!(choose(&candidates, &both, None, None), Some(0));
    assert_eq!(choose(&candidates, &both, None, Some(&A)), Some(0));
}

#[test]
fn a_running_key_stays_while_its_committee_lists_it_and_no_seat_changes_nothing() {
    let (configured, rotated, other) = ([1; 32], [2; 32], [9; 32]);
    let candidates = candidates(configured, BTreeSet::from([rotated]));
    let ours = |keys: &[[u8; 32]]| [seats(A, keys), seats(THIEF, &[other])].concat();
    let none = ours(&[]);
    for account in [None, Some(&A)] {
        let next = |current: &[Seat], next, running| {
            successor(&candidates, (current, next), account, configured, running)
        };
        // Elected for the next epoch: the running old key keeps its seat until then.
        let (old, new) = (ours(&[configured]), ours(&[rotated]));
        assert_eq!(next(&old, Some(&new), configured), None);
        // Its epoch ended: the new key.
        assert_eq!(next(&new, None, configured), Some(rotated));
        // In no committee (left, or not elected): it keeps what it runs, no restart.
        assert_eq!(next(&none, None, rotated), None);
        assert_eq!(next(&none, Some(&none), configured), None);
        // Out of the current committee but elected for the next under the other key.
        assert_eq!(next(&none, Some(&old), rotated), Some(configured));
    }
    // Running the configured key with the rotated one in someone else's seat beside it:
    // the node keeps the seat it has.
    let beside = [seats(A, &[configured]), seats(THIEF, &[rotated])].concat();
    for account in [None, Some(&A)] {
        let kept = successor(
            &candidates,
            (&beside, None),
            account,
            configured,
            configured,
        );
        assert_eq!(kept, None);
    }
}

/// The attack of the module doc's *Keys and accounts*: the validator of account `A`
/// rotated from `leaked` to `rotated`, its seat is gone, and a thief registered `leaked`
/// for himself. With the account known the node neither takes the thief's seat at start
/// nor stays in it; not knowing the account it did both (keys matched, not accounts).
#[test]
fn a_key_that_signs_for_another_accounts_seat_is_not_run() {
    let (leaked, rotated) = ([1; 32], [2; 32]);
    let candidates = candidates(leaked, BTreeSet::from([rotated]));
    let thiefs = seats(THIEF, &[leaked]);
    let next = |seats: (&[Seat], Option<&[Seat]>), account, running| {
        successor(&candidates, seats, account, leaked, running)
    };
    // Starting: not the thief's seat; and the configured key, which signs for it, is not
    // run either: the keystore's key, which signs for none.
    assert_eq!(choose(&candidates, &thiefs, None, Some(&A)), None);
    let start = starting_key(&candidates, &thiefs, None, Some(&A), leaked);
    assert_eq!(start, Some(rotated));
    assert_eq!(choose(&candidates, &thiefs, None, None), Some(1), "before");
    assert_eq!(starting_key(&candidates, &thiefs, None, None, leaked), None);
    // Running the leaked key when the thief's seat comes up (this epoch or the next):
    // step out of it.
    for seats in [
        (thiefs.as_slice(), None),
        (&[][..], Some(thiefs.as_slice())),
    ] {
        assert_eq!(next(seats, Some(&A), leaked), Some(rotated));
        assert_eq!(next(seats, None, leaked), None, "before");
    }
    // Running the rotated key, unseated: the thief's seat does not pull the node in.
    assert_eq!(next((&thiefs, None), Some(&A), rotated), None);
    assert_eq!(next((&thiefs, None), None, rotated), Some(leaked), "before");
    // Its own seat back under the rotated key: taken as usual.
    let back = [thiefs.clone(), seats(A, &[rotated])].concat();
    assert_eq!(next((&back, None), Some(&A), leaked), Some(rotated));
    // Every key of the node signs for a thief: nothing to switch to, it keeps its key.
    let all = [thiefs.clone(), seats(AccountId([0xf; 32]), &[rotated])].concat();
    assert_eq!(next((&all, None), Some(&A), leaked), None);
    // Running a keystore key someone took while the configured key is free: the
    // configured key, which a restart then keeps (start and loop name the same key).
    let (configured, kept) = ([3; 32], [4; 32]);
    let others = super::candidates(configured, BTreeSet::from([kept]));
    let took = seats(THIEF, &[kept]);
    let switched = successor(&others, (&took, None), Some(&A), configured, kept);
    assert_eq!(switched, Some(configured));
    assert_eq!(
        starting_key(&others, &took, None, Some(&A), configured),
        None
    );
}

/// Over every committee pair of three keys and two accounts (each account one seat per
/// committee, a key one account's), for a node that knows its account or not: the key a start picks is one the
/// next block keeps (no restart loop); a node that knows its account takes its seat when
/// it has one, and never runs a key seated for another account while one is free.
#[test]
fn the_starting_choice_is_stable_and_never_sits_for_another_account_needlessly() {
    let keys = [[1u8; 32], [2; 32], [3; 32]];
    let configured = keys[0];
    let candidates = candidates(configured, BTreeSet::from([keys[1], keys[2]]));
    // Each committee: the key index A holds (or none) and the one THIEF holds (or none).
    let mut committees = vec![];
    for a in [None, Some(0), Some(1), Some(2)] {
        for t in [None, Some(0), Some(1), Some(2)] {
            if a.is_none() || a != t {
                let seat = |i: Option<usize>, account| {
                    i.map(|i| Seat {
                        key: keys[i],
                        account,
                    })
                };
                committees.push(
                    seat(a, A)
                        .into_iter()
                        .chain(seat(t, THIEF))
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    let mut cases = 0;
    for current in &committees {
        for next in std::iter::once(None).chain(committees.iter().map(|c| Some(c.as_slice()))) {
            // A key is unique among candidates and sitting validators: never seated for
            // two accounts at once.
            let shared = current.iter().any(|seat| {
                next.into_iter()
                    .flatten()
                    .any(|other| other.key == seat.key && other.account != seat.account)
            });
            if shared {
                continue;
            }
            for account in [None, Some(&A)] {
                let start = starting_key(&candidates, current, next, account, configured)
                    .unwrap_or(configured);
                let again = successor(&candidates, (current, next), account, configured, start);
                assert_eq!(
                    again, None,
                    "{current:?} {next:?} {account:?}: restarts from {start:?}"
                );
                let Some(account) = account else { continue };
                if let Some(seat) = current.iter().find(|seat| seat.account == *account) {
                    assert_eq!(start, seat.key, "{current:?}: its own seat");
                }
                let free = keys
                    .iter()
                    .any(|k| !taken(*k, current, next, Some(account)));
                assert!(
                    !free || !taken(start, current, next, Some(account)),
                    "{current:?} {next:?}"
                );
                cases += 1;
            }
        }
    }
    assert!(cases > 100, "{cases}");
}

#[test]
fn the_account_is_learned_from_the_keystore_keys_owners_once_and_read_back() {
    let root = tempfile::tempdir().unwrap();
    let dir = dir(root.path());
    generate(&dir).unwrap();
    assert_eq!(account(&dir).unwrap(), None);
    // No owner, or several: nothing learned.
    assert_eq!(learn_account(&dir, None, &BTreeSet::new()).unwrap(), None);
    let both = BTreeSet::from([A, THIEF]);
    assert_eq!(learn_account(&dir, None, &both).unwrap(), None);
    assert_eq!(account(&dir).unwrap(), None);
    assert_eq!(
        learn_account(&dir, None, &BTreeSet::from([A])).unwrap(),
        Some(A)
    );
    assert_eq!(account(&dir).unwrap(), Some(A));
    // Once known it stays.
    let thief = BTreeSet::from([THIEF]);
    assert_eq!(learn_account(&dir, Some(A), &thief).unwrap(), Some(A));
    assert_eq!(account(&dir).unwrap(), Some(A));
    assert_eq!(public_keys(&dir).unwrap().len(), 1, "not a key's name");
    // A file that is not an address: named.
    std::fs::write(dir.join(ACCOUNT_FILE), "not an address").unwrap();
    let error = account(&dir).unwrap_err().to_string();
    assert!(
        error.contains(ACCOUNT_FILE) && error.contains("SS58"),
        "{error}"
    );
}

#[test]
fn a_generated_key_is_read_back_and_strays_are_skipped_or_named() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let dir = dir(root.path());
    assert!(
        public_keys(&dir).unwrap().is_empty(),
        "no keystore, no keys"
    );
    let (pair, phrase) = generate(&dir).unwrap();
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    assert_eq!(
        public_keys(&dir).unwrap(),
        BTreeSet::from([pair.public().0])
    );
    assert_eq!(load(&dir, pair.public().0).unwrap(), pair.seed());
    assert_eq!(
        ed25519::Pair::from_string(&phrase, None).unwrap().public(),
        pair.public()
    );
    // Not a key's name: skipped.
    std::fs::write(dir.join("README"), "notes").unwrap();
    std::fs::write(dir.join(".abc.tmp"), "half").unwrap();
    assert_eq!(public_keys(&dir).unwrap().len(), 1);
    // A key under another key's name: named.
    let stray = dir.join(hex::encode([7u8; 32]));
    agora_primitives::secret::write_key_file(&stray, "//Bob").unwrap();
    let error = load(&dir, [7; 32]).unwrap_err().to_string();
    assert!(
        error.contains(&stray.display().to_string()) && error.contains("not the key"),
        "{error}"
    );
    std::fs::remove_file(&stray).unwrap();
    // A key others can read: refused, naming the file.
    let (other, _) = generate(&dir).unwrap();
    let path = dir.join(hex::encode(other.public().0));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = load(&dir, other.public().0).unwrap_err().to_string();
    assert!(
        error.contains(&path.display().to_string()) && error.contains("chmod 600"),
        "{error}"
    );
}

#[test]
fn a_keystore_past_its_bound_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = dir(root.path());
    for _ in 0..MAX_KEYS {
        generate(&dir).unwrap();
    }
    let Err(error) = generate(&dir) else {
        panic!("a key past the bound was written")
    };
    assert!(matches!(error, KeystoreError::TooMany { .. }), "{error}");
    assert_eq!(
        public_keys(&dir).unwrap().len(),
        MAX_KEYS,
        "nothing written"
    );
    // Keys put there by hand past the bound: listing them is refused.
    std::fs::write(dir.join(hex::encode([5u8; 32])), "").unwrap();
    let error = public_keys(&dir).unwrap_err();
    assert!(matches!(error, KeystoreError::TooMany { .. }), "{error}");
}
