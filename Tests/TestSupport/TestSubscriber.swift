package import VigilIO

/// An MQTT client that records every message it receives, for assertions.
package final class TestSubscriber: MQTTClientHandler {
    package struct Message: Sendable, Equatable {
        package var topic: String
        package var payload: String
    }

    package let messages = Awaitable<[Message]>([])
    package let connected = Awaitable<Int>(0)
    /// Subscription acknowledgements received.
    package let subscribed = Awaitable<Int>(0)
    package let client: MQTTClient

    package init(port: Int, filters: [String], clientID: String = "vigil-test-sub-\(Int.random(in: 0..<1_000_000))") throws {
        var options = MQTTClientOptions(host: "127.0.0.1", port: port, clientID: clientID)
        options.subscriptions = filters.map { ($0, 1) }
        client = try MQTTClient(options: options)
        try client.start(handler: self)
    }

    /// Waits until the broker has acknowledged the subscriptions.
    package func waitUntilSubscribed(timeout: Double = 10) -> Bool {
        subscribed.wait(timeout: timeout) { $0 >= client.options.subscriptions.count }.satisfied
    }

    package func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        let message = Message(topic: String(decoding: topic, as: UTF8.self), payload: String(decoding: payload, as: UTF8.self))
        messages.update { $0.append(message) }
    }

    package func mqttConnected(code: Int32, description: String) {
        if code == 0 { connected.update { $0 += 1 } }
    }

    package func mqttDisconnected(code: Int32, description: String) {}

    package func mqttSubscribed(granted: [Int32]) {
        subscribed.update { $0 += 1 }
    }
}
