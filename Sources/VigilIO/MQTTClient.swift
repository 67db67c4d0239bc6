import CMosquitto
import Foundation
import Synchronization

/// The calls for `mosquitto_lib_init`, made once per process before the first client (a global `let`
/// initialiser runs exactly once, thread-safely).
private let libraryInitialised: Bool = {
    mosquitto_lib_init()
    return true
}()

/// How to reach a broker and what to subscribe to.
package struct MQTTClientOptions: Sendable {
    package enum ProtocolVersion: Sendable { case v311, v5 }

    package var host: String
    package var port: Int
    package var clientID: String
    package var protocolVersion: ProtocolVersion = .v5
    package var username: String? = nil
    package var password: String? = nil
    package var keepAliveSeconds: Int = 30
    package var cleanStart: Bool = true
    package var reconnectMinSeconds: Int = 1
    package var reconnectMaxSeconds: Int = 30
    /// (filter, qos) pairs, subscribed after every successful connect.
    package var subscriptions: [(filter: String, qos: Int)] = []
    /// The Last Will: the broker publishes it when the connection ends without a DISCONNECT (a crash, a
    /// SIGKILL, a network loss noticed by keep-alive).
    package var will: Message? = nil
    /// Published on every successful connect, before subscribing (a retained `online` status).
    package var birth: Message? = nil

    /// One message to publish: a will or a birth message.
    package struct Message: Sendable {
        package var topic: String
        package var payload: String
        package var qos: Int
        package var retain: Bool

        package init(topic: String, payload: String, qos: Int, retain: Bool) {
            self.topic = topic
            self.payload = payload
            self.qos = qos
            self.retain = retain
        }
    }

    package init(host: String, port: Int, clientID: String) {
        self.host = host
        self.port = port
        self.clientID = clientID
    }
}

/// Receives what the client's network thread sees. Called on libmosquitto's thread while it holds its
/// callback lock: never block for long, never call back into the client's lifecycle (`stop`).
package protocol MQTTClientHandler: Sendable {
    /// One message; both buffers are valid only during the call.
    func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer)
    /// The broker accepted (code 0) or refused the connection.
    func mqttConnected(code: Int32, description: String)
    /// The connection ended; code 0 means we asked for it.
    func mqttDisconnected(code: Int32, description: String)
    /// The broker acknowledged one of the subscriptions made after a connect (`granted` is its QoS, or
    /// 128 for a refusal).
    func mqttSubscribed(granted: [Int32])
}

extension MQTTClientHandler {
    package func mqttSubscribed(granted: [Int32]) {}
}

/// One libmosquitto connection: threaded network loop, automatic reconnect with exponential backoff,
/// resubscription on every connect.
///
/// ## Ownership
/// This class owns the `struct mosquitto *`. ``stop()`` disconnects and joins the network thread; `deinit`
/// destroys the handle and only then releases the callback context that libmosquitto held as `userdata`.
/// Never drop the last reference on the network thread itself (`loop_stop` would join its own thread).
package final class MQTTClient: Sendable {
    /// The callback context passed to libmosquitto as `userdata` (retained while the handle lives).
    private final class Context: Sendable {
        let options: MQTTClientOptions
        let handler: Mutex<(any MQTTClientHandler)?> = Mutex(nil)
        let connected = Atomic<Bool>(false)
        let subscribed = Atomic<Bool>(false)
        /// Filters granted since the last connect.
        let subscriptionsGranted = Atomic<Int>(0)
        let connects = Atomic<Int>(0)
        let published = Atomic<Int>(0)
        let acknowledged = Atomic<Int>(0)

        init(options: MQTTClientOptions) { self.options = options }

        var currentHandler: (any MQTTClientHandler)? { handler.withLock { $0 } }
    }

    package let options: MQTTClientOptions
    // The handle is used from any thread through libmosquitto's thread-safe calls (publish, subscribe,
    // disconnect); it is destroyed only in deinit, after the network thread has been joined.
    nonisolated(unsafe) private let handle: OpaquePointer
    private let context: Context
    private let started = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)

    package init(options: MQTTClientOptions) throws(MQTTError) {
        _ = libraryInitialised
        self.options = options
        let context = Context(options: options)
        self.context = context
        // Retained here, released in deinit after mosquitto_destroy: libmosquitto holds it as userdata.
        let contextPointer = Unmanaged.passRetained(context).toOpaque()
        guard let handle = mosquitto_new(options.clientID, options.cleanStart, contextPointer) else {
            Unmanaged<Context>.fromOpaque(contextPointer).release()
            throw MQTTError(rawValue: Int32(MOSQ_ERR_NOMEM.rawValue))
        }
        self.handle = handle
        do {
            let version = options.protocolVersion == .v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311
            try mosquitto_int_option(handle, MOSQ_OPT_PROTOCOL_VERSION, version).mosquittoCheck()
            // Vigil publishes anomalies: Nagle's algorithm would add tens of milliseconds to each.
            try mosquitto_int_option(handle, MOSQ_OPT_TCP_NODELAY, 1).mosquittoCheck()
            if options.username != nil || options.password != nil {
                try mosquitto_username_pw_set(handle, options.username, options.password).mosquittoCheck()
            }
            try mosquitto_reconnect_delay_set(
                handle, UInt32(options.reconnectMinSeconds), UInt32(options.reconnectMaxSeconds), true
            ).mosquittoCheck()
            if let will = options.will {
                // Set before the first connect; libmosquitto sends it in every CONNECT (MQTT 3.1.1 and 5 alike).
                var payload = will.payload
                try payload.withUTF8 { bytes in
                    mosquitto_will_set(handle, will.topic, Int32(bytes.count), bytes.baseAddress, Int32(will.qos), will.retain)
                }.mosquittoCheck()
            }
        } catch {
            mosquitto_destroy(handle)
            Unmanaged<Context>.fromOpaque(contextPointer).release()
            throw error
        }
        mosquitto_connect_callback_set(handle) { mosq, userdata, code in
            let context = Unmanaged<Context>.fromOpaque(userdata!).takeUnretainedValue()
            if code == 0 {
                context.connected.store(true, ordering: .releasing)
                context.subscribed.store(false, ordering: .releasing)
                context.subscriptionsGranted.store(0, ordering: .relaxed)
                context.connects.add(1, ordering: .relaxed)
                if let birth = context.options.birth {
                    // Counted like any publish, so that its acknowledgement keeps `unacknowledgedPublishes` right.
                    context.published.add(1, ordering: .relaxed)
                    var payload = birth.payload
                    let rc = payload.withUTF8 { bytes in
                        mosquitto_publish(mosq, nil, birth.topic, Int32(bytes.count), bytes.baseAddress, Int32(birth.qos), birth.retain)
                    }
                    if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) { context.published.subtract(1, ordering: .relaxed) }
                }
                for subscription in context.options.subscriptions {
                    mosquitto_subscribe(mosq, nil, subscription.filter, Int32(subscription.qos))
                }
            }
            context.currentHandler?.mqttConnected(code: code, description: String(cString: mosquitto_connack_string(code)))
        }
        mosquitto_disconnect_callback_set(handle) { _, userdata, code in
            let context = Unmanaged<Context>.fromOpaque(userdata!).takeUnretainedValue()
            context.connected.store(false, ordering: .releasing)
            context.subscribed.store(false, ordering: .releasing)
            context.currentHandler?.mqttDisconnected(code: code, description: String(cString: mosquitto_strerror(code)))
        }
        mosquitto_subscribe_callback_set(handle) { _, userdata, _, count, granted in
            let context = Unmanaged<Context>.fromOpaque(userdata!).takeUnretainedValue()
            let codes = (0..<Int(count)).map { granted![$0] }
            // One SUBACK per filter: the client counts as subscribed once every filter is granted.
            if codes.allSatisfy({ $0 < 0x80 }) {
                let acknowledged = context.subscriptionsGranted.add(1, ordering: .relaxed).newValue
                if acknowledged >= context.options.subscriptions.count {
                    context.subscribed.store(true, ordering: .releasing)
                }
            }
            context.currentHandler?.mqttSubscribed(granted: codes)
        }
        mosquitto_publish_callback_set(handle) { _, userdata, _ in
            let context = Unmanaged<Context>.fromOpaque(userdata!).takeUnretainedValue()
            context.acknowledged.add(1, ordering: .relaxed)
        }
        mosquitto_message_callback_set(handle) { _, userdata, message in
            guard let userdata, let message else { return }
            let context = Unmanaged<Context>.fromOpaque(userdata).takeUnretainedValue()
            // The message belongs to libmosquitto and is freed when we return: the handler copies what it keeps.
            let topic = message.pointee.topic!
            let topicBytes = UnsafeRawBufferPointer(start: topic, count: strlen(topic))
            let payload = UnsafeRawBufferPointer(start: message.pointee.payload, count: Int(message.pointee.payloadlen))
            context.currentHandler?.mqttMessage(topic: topicBytes, payload: payload)
        }
    }

    deinit {
        stop()
        mosquitto_destroy(handle)
        Unmanaged.passUnretained(context).release()
    }

    /// Whether the client is connected now.
    package var isConnected: Bool { context.connected.load(ordering: .acquiring) }

    /// Whether every configured filter has been granted since the current connection was made.
    package var isSubscribed: Bool { context.subscribed.load(ordering: .acquiring) }

    /// Successful connections so far (the first one included).
    package var connectCount: Int { context.connects.load(ordering: .relaxed) }

    /// QoS 1/2 publishes not yet acknowledged by the broker (QoS 0 ones count as acknowledged when sent).
    package var unacknowledgedPublishes: Int {
        context.published.load(ordering: .relaxed) - context.acknowledged.load(ordering: .relaxed)
    }

    /// Starts the network thread and connects in the background; the client keeps reconnecting with
    /// exponential backoff until ``stop()``. A broker that is down at start is not an error.
    package func start(handler: (any MQTTClientHandler)?) throws(MQTTError) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        context.handler.withLock { $0 = handler }
        let rc = mosquitto_connect_async(handle, options.host, Int32(options.port), Int32(options.keepAliveSeconds))
        // A refused or unreachable broker is retried by the network loop; anything else is a configuration error.
        if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) && rc != Int32(MOSQ_ERR_ERRNO.rawValue) && rc != Int32(MOSQ_ERR_NO_CONN.rawValue) {
            throw MQTTError(rawValue: rc)
        }
        try mosquitto_loop_start(handle).mosquittoCheck()
    }

    /// Publishes one message (thread-safe; queued by libmosquitto when the connection is down).
    package func publish(topic: String, payload: String, qos: Int, retain: Bool = false) throws(MQTTError) {
        var payload = payload
        try payload.withUTF8 { rawPublish(topic: topic, payload: UnsafeRawBufferPointer($0), qos: qos, retain: retain) }
            .mosquittoCheck()
    }

    package func publish(topic: String, payload: UnsafeRawBufferPointer, qos: Int, retain: Bool = false) throws(MQTTError) {
        try rawPublish(topic: topic, payload: payload, qos: qos, retain: retain).mosquittoCheck()
    }

    private func rawPublish(topic: String, payload: UnsafeRawBufferPointer, qos: Int, retain: Bool) -> Int32 {
        // QoS 0 gets no acknowledgement callback... except that libmosquitto calls on_publish for QoS 0 too,
        // once the message is written; so every successful publish is matched by one callback.
        context.published.add(1, ordering: .relaxed)
        let rc = mosquitto_publish(handle, nil, topic, Int32(payload.count), payload.baseAddress, Int32(qos), retain)
        if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) { context.published.subtract(1, ordering: .relaxed) }
        return rc
    }

    /// Unsubscribes from every configured filter (before a graceful stop: no new deliveries).
    package func unsubscribeAll() {
        for subscription in options.subscriptions {
            mosquitto_unsubscribe(handle, nil, subscription.filter)
        }
    }

    /// Waits until every publish so far is acknowledged, for at most `timeout` seconds. Returns whether it was.
    package func waitForPublishes(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while unacknowledgedPublishes > 0 {
            if Date() >= deadline || !isConnected { return unacknowledgedPublishes <= 0 }
            usleep(2_000)
        }
        return true
    }

    /// Disconnects and joins the network thread. Idempotent. Must not be called on the network thread.
    package func stop() {
        guard started.load(ordering: .acquiring), !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        mosquitto_disconnect(handle)
        mosquitto_loop_stop(handle, false)
        context.handler.withLock { $0 = nil }
    }
}
