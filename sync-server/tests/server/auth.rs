//! Authentication: API keys, HS256 JWTs with `exp`, and per-user rows.

use jsonwebtoken::{EncodingKey, Header};
use reqwest::Method;
use serde_json::json;
use sync_server::Auth;

use crate::common::{Db, Env};

const SECRET: &[u8] = b"test-secret";

fn token(sub: &str, exp_from_now: i64, secret: &[u8]) -> String {
    let exp = chrono::Utc::now().timestamp() + exp_from_now;
    jsonwebtoken::encode(
        &Header::default(),
        &json!({"sub": sub, "exp": exp, "aud": "urn:microsoft:windows-azure:zumo"}),
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_required_in_either_header() {
    let env = Env::start(Db::Sqlite, "api_key", |c| {
        c.auth(Auth::ApiKey("k3y".into()))
    })
    .await
    .unwrap();
    let body = json!({"id": "a1"}).to_string();
    for headers in [
        vec![],
        vec![("X-API-KEY", "wrong")],
        vec![("Authorization", "Bearer wrong")],
        vec![("Authorization", "k3y")],
    ] {
        let r = env
            .call(Method::POST, "/tables/T", Some(&body), &headers)
            .await;
        assert_eq!(r.status, 401, "{headers:?}: {}", r.text);
        r.error();
        let r = env.call(Method::GET, "/tables/T", None, &headers).await;
        assert_eq!(r.status, 401);
    }
    let r = env
        .call(
            Method::POST,
            "/tables/T",
            Some(&body),
            &[("X-API-KEY", "k3y")],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = env
        .call(
            Method::GET,
            "/tables/T/a1",
            None,
            &[("Authorization", "Bearer k3y")],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_must_be_signed_and_unexpired() {
    let env = Env::start(Db::Sqlite, "jwt", |c| {
        c.auth(Auth::Jwt {
            secret: SECRET.to_vec(),
            per_user: false,
        })
    })
    .await
    .unwrap();
    let good = token("alice", 600, SECRET);
    let expired = token("alice", -600, SECRET);
    let forged = token("alice", 600, b"other-secret");
    let none_alg = {
        // An unsigned token claiming alg "none".
        use base64::Engine as _;
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            e.encode(r#"{"alg":"none","typ":"JWT"}"#),
            e.encode(
                json!({"sub": "alice", "exp": chrono::Utc::now().timestamp() + 600}).to_string()
            )
        )
    };
    let no_exp = jsonwebtoken::encode(
        &Header::default(),
        &json!({"sub": "alice"}),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    let body = json!({"id": "a1"}).to_string();
    for bad in [
        expired.as_str(),
        forged.as_str(),
        none_alg.as_str(),
        no_exp.as_str(),
        "garbage",
        "",
    ] {
        let r = env
            .call(
                Method::POST,
                "/tables/T",
                Some(&body),
                &[("X-ZUMO-AUTH", bad)],
            )
            .await;
        assert_eq!(r.status, 401, "{bad}: {}", r.text);
        r.error();
    }
    let r = env.call(Method::POST, "/tables/T", Some(&body), &[]).await;
    assert_eq!(r.status, 401);
    assert!(
        env.snapshot_as("T", &good).await.is_empty(),
        "nothing written"
    );
    let r = env
        .call(
            Method::POST,
            "/tables/T",
            Some(&body),
            &[("X-ZUMO-AUTH", &good)],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let bearer = format!("Bearer {good}");
    let r = env
        .call(
            Method::GET,
            "/tables/T/a1",
            None,
            &[("Authorization", &bearer)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    env.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_user_rows_are_invisible_to_other_users() {
    let env = Env::start(Db::Sqlite, "per_user", |c| {
        c.auth(Auth::Jwt {
            secret: SECRET.to_vec(),
            per_user: true,
        })
        .dynamic_schema(true)
    })
    .await
    .unwrap();
    let alice = token("alice", 600, SECRET);
    let bob = token("bob", 600, SECRET);
    let as_ = |t: &str| vec![("X-ZUMO-AUTH", t.to_owned())];
    let call = |m: Method, p: &'static str, body: Option<serde_json::Value>, t: &str| {
        let h = as_(t);
        let env = &env;
        async move {
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            env.call(m, p, body.map(|b| b.to_string()).as_deref(), &h)
                .await
        }
    };
    let a = call(
        Method::POST,
        "/tables/T",
        Some(json!({"id": "a1", "text": "alice's"})),
        &alice,
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text);
    // Bob cannot see, change or delete it: 404, as for an id that does not exist.
    assert_eq!(
        call(Method::GET, "/tables/T/a1", None, &bob).await.status,
        404
    );
    assert_eq!(
        call(
            Method::PATCH,
            "/tables/T/a1",
            Some(json!({"text": "bob was here"})),
            &bob
        )
        .await
        .status,
        404
    );
    assert_eq!(
        call(Method::DELETE, "/tables/T/a1", None, &bob)
            .await
            .status,
        404
    );
    assert_eq!(
        call(Method::POST, "/tables/T/a1", None, &bob).await.status,
        404
    );
    assert!(
        call(Method::GET, "/tables/T?__includeDeleted=true", None, &bob)
            .await
            .rows()
            .is_empty()
    );
    // Bob inserting the same id gets his own row, not a 409 that would leak Alice's.
    let b = call(
        Method::POST,
        "/tables/T",
        Some(json!({"id": "a1", "text": "bob's"})),
        &bob,
    )
    .await;
    assert_eq!(b.status, 201, "{}", b.text);
    let mine = call(Method::GET, "/tables/T", None, &alice).await.rows();
    assert_eq!(mine, vec![a.json.clone()]);
    assert_eq!(
        call(Method::GET, "/tables/T/a1", None, &bob).await.json["text"],
        "bob's"
    );
    // A token without `sub` is refused in per-user mode.
    let no_sub = jsonwebtoken::encode(
        &Header::default(),
        &json!({"exp": chrono::Utc::now().timestamp() + 600}),
        &EncodingKey::from_secret(SECRET),
    )
    .unwrap();
    assert_eq!(
        call(Method::GET, "/tables/T", None, &no_sub).await.status,
        401
    );
    env.stop().await;
}
