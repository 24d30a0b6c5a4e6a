// A field added to a struct reads rows written before it as its default: `Default` for
// `#[sync(default)]`, the named function for `#[sync(default = "path")]`, through the
// facade and with the function in another module.
use tablesync::{Record, Syncable, Value};

mod app {
    pub mod defaults {
        pub fn priority() -> i64 {
            2
        }
    }
}

#[derive(Syncable, Debug, PartialEq)]
struct Todo {
    id: String,
    text: String,
    #[sync(default)]
    done: bool,
    #[sync(default = "app::defaults::priority")]
    priority: i64,
    #[sync(default = "Vec::new", json)]
    tags: Vec<String>,
    #[version]
    version: Option<String>,
}

fn main() {
    let mut old = Record::new();
    old.set("id", "t1");
    old.set("text", "milk");
    old.set("done", Value::Null);
    let t = Todo::from_record(old).unwrap();
    assert_eq!((t.done, t.priority, t.tags.len()), (false, 2, 0));
}
