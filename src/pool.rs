//! `ObjectPool`: a thread-safe pool of reusable objects (connections), as
//! pymemcache's `ObjectPool`: checkout and return under a lock, an optional
//! maximum size with a bounded wait, and expiry of objects left idle.

use crate::error::{Error, Result};
use parking_lot::{Condvar, Mutex};
use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

/// How a pool is sized and aged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PoolOptions {
    /// Most objects alive at once (in use plus free); `None` = unbounded,
    /// as pymemcache's default.
    pub max_size: Option<usize>,
    /// How long a checkout waits when the pool is at its maximum; zero fails
    /// at once, as pymemcache does.
    pub timeout: Duration,
    /// Free objects idle longer than this are destroyed; `None` = never.
    pub idle_timeout: Option<Duration>,
}

/// A snapshot of a pool's counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Objects checked out right now.
    pub in_use: usize,
    /// Objects waiting in the pool.
    pub free: usize,
    /// Objects made since the pool was created.
    pub created: u64,
    /// Objects destroyed (failed, idle, cleared) since the pool was created.
    pub destroyed: u64,
}

/// A small number naming the calling thread (cheaper than `ThreadId`).
fn thread_token() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static TOKEN: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    TOKEN.with(|t| *t)
}

struct Free<T> {
    obj: T,
    returned: Instant,
    /// The thread that returned it.
    owner: u64,
}

struct State<T> {
    /// Free objects, the most recently returned last.
    free: Vec<Free<T>>,
    in_use: usize,
    /// The most objects in use at once since the pool was made or
    /// `reset_peak_in_use`.
    peak_in_use: usize,
    created: u64,
    destroyed: u64,
}

impl<T> State<T> {
    /// One more object in use.
    fn lend(&mut self) {
        self.in_use += 1;
        self.peak_in_use = self.peak_in_use.max(self.in_use);
    }
}

/// A pool of `T`s made on demand by a factory.
pub struct ObjectPool<T> {
    make: Box<dyn Fn() -> Result<T> + Send + Sync>,
    opts: PoolOptions,
    state: Mutex<State<T>>,
    returned: Condvar,
}

impl<T> ObjectPool<T> {
    /// A pool that makes objects with `make` when none is free.
    pub fn new(opts: PoolOptions, make: impl Fn() -> Result<T> + Send + Sync + 'static) -> Self {
        ObjectPool {
            make: Box::new(make),
            opts,
            state: Mutex::new(State {
                free: Vec::new(),
                in_use: 0,
                peak_in_use: 0,
                created: 0,
                destroyed: 0,
            }),
            returned: Condvar::new(),
        }
    }

    /// Take an object: the one this thread returned last if it is free
    /// (a connection keeps meeting the same server thread, which keeps
    /// wake-ups cheap), else the most recently returned free one, a new one,
    /// or (at the maximum) the first one returned within the pool's timeout.
    pub fn checkout(&self) -> Result<Pooled<'_, T>> {
        self.checkout_until(None)
    }

    /// `checkout`, waiting no later than `call_deadline` either: a wait it
    /// ends is a timeout (the pool's own timeout ending is PoolExhausted).
    pub fn checkout_until(&self, call_deadline: Option<Instant>) -> Result<Pooled<'_, T>> {
        let pool_deadline = Instant::now() + self.opts.timeout;
        let deadline = call_deadline.map_or(pool_deadline, |d| d.min(pool_deadline));
        let me = thread_token();
        let mut st = self.state.lock();
        loop {
            self.expire_idle(&mut st);
            let mine = st.free.iter().rposition(|f| f.owner == me);
            let pick = mine.or_else(|| st.free.len().checked_sub(1));
            if let Some(i) = pick {
                let f = st.free.remove(i);
                st.lend();
                return Ok(Pooled::new(self, f.obj));
            }
            let full = self
                .opts
                .max_size
                .is_some_and(|max| st.in_use + st.free.len() >= max);
            if !full {
                st.lend();
                st.created += 1;
                drop(st);
                return match (self.make)() {
                    Ok(obj) => Ok(Pooled::new(self, obj)),
                    Err(e) => {
                        let mut st = self.state.lock();
                        st.in_use -= 1;
                        st.destroyed += 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            if self.returned.wait_until(&mut st, deadline).timed_out() && st.free.is_empty() {
                if deadline < pool_deadline {
                    return Err(Error::Timeout {
                        text: "the call's deadline passed waiting for a pooled connection".into(),
                        server: Default::default(),
                    });
                }
                let busy = st.in_use;
                return Err(Error::PoolExhausted {
                    max: self.opts.max_size.unwrap_or(busy),
                    waited: self.opts.timeout,
                });
            }
        }
    }

    fn expire_idle(&self, st: &mut State<T>) {
        if let Some(idle) = self.opts.idle_timeout {
            let now = Instant::now();
            let before = st.free.len();
            st.free.retain(|f| now.duration_since(f.returned) < idle);
            st.destroyed += (before - st.free.len()) as u64;
        }
    }

    fn give_back(&self, obj: T) {
        let mut st = self.state.lock();
        st.in_use -= 1;
        st.free.push(Free {
            obj,
            returned: Instant::now(),
            owner: thread_token(),
        });
        drop(st);
        self.returned.notify_one();
    }

    fn destroy(&self, obj: T) {
        let mut st = self.state.lock();
        st.in_use -= 1;
        st.destroyed += 1;
        drop(st);
        drop(obj);
        self.returned.notify_one();
    }

    /// Destroy every free object (those in use are unaffected).
    pub fn clear(&self) {
        let mut st = self.state.lock();
        let n = st.free.len() as u64;
        st.free.clear();
        st.destroyed += n;
    }

    /// Destroy free objects idle longer than the idle timeout now, rather
    /// than at the next checkout.
    pub fn expire_idle_now(&self) {
        let mut st = self.state.lock();
        self.expire_idle(&mut st);
    }

    /// The pool's counts.
    pub fn stats(&self) -> PoolStats {
        let st = self.state.lock();
        PoolStats {
            in_use: st.in_use,
            free: st.free.len(),
            created: st.created,
            destroyed: st.destroyed,
        }
    }

    /// Objects in use now, and the most in use at once since the pool was
    /// made or `reset_peak_in_use`.
    pub fn in_use_and_peak(&self) -> (usize, usize) {
        let st = self.state.lock();
        (st.in_use, st.peak_in_use)
    }

    /// Restart the peak from the objects in use now.
    pub fn reset_peak_in_use(&self) {
        let mut st = self.state.lock();
        st.peak_in_use = st.in_use;
    }

    /// The options the pool was made with.
    pub fn options(&self) -> &PoolOptions {
        &self.opts
    }
}

/// A checked-out object: returned to the pool when dropped, unless
/// `destroy` is called.
pub struct Pooled<'a, T> {
    pool: &'a ObjectPool<T>,
    obj: Option<T>,
}

impl<'a, T> Pooled<'a, T> {
    fn new(pool: &'a ObjectPool<T>, obj: T) -> Self {
        Pooled {
            pool,
            obj: Some(obj),
        }
    }

    /// Destroy the object instead of returning it (after a failure).
    pub fn destroy(mut self) {
        if let Some(obj) = self.obj.take() {
            self.pool.destroy(obj);
        }
    }
}

impl<T> Deref for Pooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.obj.as_ref().expect("present until dropped")
    }
}

impl<T> DerefMut for Pooled<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.obj.as_mut().expect("present until dropped")
    }
}

impl<T> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        if let Some(obj) = self.obj.take() {
            self.pool.give_back(obj);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn counter_pool(opts: PoolOptions) -> ObjectPool<usize> {
        let n = AtomicUsize::new(0);
        ObjectPool::new(opts, move || Ok(n.fetch_add(1, Ordering::SeqCst)))
    }

    #[test]
    fn reuses_returned_objects() {
        let pool = counter_pool(PoolOptions::default());
        let a = pool.checkout().unwrap();
        assert_eq!(*a, 0);
        drop(a);
        let b = pool.checkout().unwrap();
        assert_eq!(*b, 0);
        let c = pool.checkout().unwrap();
        assert_eq!(*c, 1);
        assert_eq!(
            pool.stats(),
            PoolStats {
                in_use: 2,
                free: 0,
                created: 2,
                destroyed: 0
            }
        );
        c.destroy();
        drop(b);
        assert_eq!(
            pool.stats(),
            PoolStats {
                in_use: 0,
                free: 1,
                created: 2,
                destroyed: 1
            }
        );
        pool.clear();
        assert_eq!(pool.stats().free, 0);
        assert_eq!(pool.stats().destroyed, 2);
    }

    #[test]
    fn full_pool_fails_at_once_or_after_the_timeout() {
        let pool = counter_pool(PoolOptions {
            max_size: Some(1),
            ..Default::default()
        });
        let held = pool.checkout().unwrap();
        assert!(matches!(
            pool.checkout(),
            Err(Error::PoolExhausted { max: 1, .. })
        ));
        drop(held);
        assert!(pool.checkout().is_ok());

        let pool = counter_pool(PoolOptions {
            max_size: Some(1),
            timeout: Duration::from_millis(100),
            ..Default::default()
        });
        let held = pool.checkout().unwrap();
        let t = Instant::now();
        assert!(pool.checkout().is_err());
        assert!(t.elapsed() >= Duration::from_millis(100));
        drop(held);
    }

    #[test]
    fn a_waiter_gets_the_returned_object() {
        let pool = Arc::new(counter_pool(PoolOptions {
            max_size: Some(1),
            timeout: Duration::from_secs(10),
            ..Default::default()
        }));
        let held = pool.checkout().unwrap();
        let p2 = pool.clone();
        let waiter = std::thread::spawn(move || *p2.checkout().unwrap());
        std::thread::sleep(Duration::from_millis(50));
        drop(held);
        assert_eq!(waiter.join().unwrap(), 0);
        assert_eq!(pool.stats().created, 1);
    }

    #[test]
    fn a_thread_gets_back_the_object_it_returned() {
        use std::sync::mpsc::channel;
        let pool = Arc::new(counter_pool(PoolOptions::default()));
        let mine = pool.checkout().unwrap();
        let (held_tx, held_rx) = channel();
        let (go_tx, go_rx) = channel::<()>();
        let p2 = pool.clone();
        let other = std::thread::spawn(move || {
            let theirs = p2.checkout().unwrap();
            held_tx.send(*theirs).unwrap();
            go_rx.recv().unwrap();
            drop(theirs); // returned after ours: the newest free object
        });
        let theirs_id = held_rx.recv().unwrap();
        let my_id = *mine;
        drop(mine);
        go_tx.send(()).unwrap();
        other.join().unwrap();
        assert_ne!(my_id, theirs_id);
        assert_eq!(*pool.checkout().unwrap(), my_id, "our own, not the newest");
        let p3 = pool.clone();
        let got = std::thread::spawn(move || *p3.checkout().unwrap())
            .join()
            .unwrap();
        assert_eq!(got, my_id, "a new thread gets the newest free object");
    }

    #[test]
    fn idle_objects_expire() {
        let pool = counter_pool(PoolOptions {
            idle_timeout: Some(Duration::from_millis(30)),
            ..Default::default()
        });
        drop(pool.checkout().unwrap());
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(*pool.checkout().unwrap(), 1);
        assert_eq!(pool.stats().destroyed, 1);
    }
}
