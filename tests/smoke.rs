mod common;

use mock_chat_server::{Chat, MockChatServer};

#[tokio::test]
async fn readme_example_works() {
    let server = MockChatServer::builder().seed(7).start().await;
    let chats: Vec<Chat> = reqwest::get(server.url("/chats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(chats.len(), 4);
    assert_eq!(chats[0].name, "General");

    let mut events = common::sse(&server, None).await;
    let res = common::post(&server, 1, "key-1", "hello").await.unwrap();
    assert_eq!(res.status(), 200);
    let e = common::next_events(&mut events, 1).await;
    assert_eq!(common::message_of(&e[0]).text, "hello");
    assert_eq!(e[0].id, "1");
}
