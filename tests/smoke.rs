mod common;
use common::Memcached;
use pymemcache::{Client, ClientOptions, Memcache};

#[test]
fn smoke_tcp_and_unix() {
    for mc in [Memcached::tcp(&[]), Memcached::unix(&[])] {
        let c = Client::new(&mc.addr(), &ClientOptions::default()).unwrap();
        assert!(c.set(b"k", b"v\r\n\0x", 7, 0, Some(false)).unwrap());
        let it = c.get(b"k").unwrap().unwrap();
        assert_eq!((it.value.as_slice(), it.flags), (&b"v\r\n\0x"[..], 7));
        let r = c.get_many(&[b"a", b"k", b"b", b"k"]).unwrap();
        assert_eq!(
            r.iter().map(|x| x.is_some()).collect::<Vec<_>>(),
            [false, true, false, true]
        );
        println!("{}", c.version().unwrap());
    }
}
