// A struct inside nested modules derives with paths that do not depend on its location.
mod app {
    pub mod model {
        #[derive(tablesync::Syncable, Debug, PartialEq)]
        #[table("Items")]
        pub struct Item {
            pub id: String,
            pub name: String,
            #[version]
            pub version: Option<String>,
        }
    }
}

use tablesync::Syncable as _;

fn main() {
    use app::model::Item;
    assert_eq!(<Item as tablesync::Syncable>::table_name(), "Items");
    let item = Item { id: "i".into(), name: "n".into(), version: None };
    assert_eq!(Item::from_record(item.to_record().unwrap()).unwrap(), item);
}
