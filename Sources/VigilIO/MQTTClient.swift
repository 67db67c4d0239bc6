import CMosquitto
import COpenSSL
import Dispatch
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
    /// MQTT 5 session expiry interval sent with every CONNECT (0: the session ends with the connection).
    package var sessionExpirySeconds: Int = 0
    /// Most unacknowledged QoS 1/2 messages the broker may have in flight to us (MQTT 5 receive maximum).
    package var receiveMaximum: Int = 65535
    /// TLS; nil for plain TCP.
    package var tls: TLS? = nil

    /// TLS settings: minimum TLS 1.2, the broker's certificate verified unless `verify` is false.
    package struct TLS: Sendable {
        /// PEM CA file; nil: the system's CA folder (/etc/ssl/certs).
        package var caFile: String?
        package var certFile: String?
        package var keyFile: String?
        /// The name the broker's certificate must carry; nil: the host.
        package var serverName: String?
        package var verify: Bool

        package init(caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, serverName: String? = nil, verify: Bool = true) {
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
            self.serverName = serverName
            self.verify = verify
        }
    }

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

/// One libmosquitto connection: our own network thread, reconnect with exponential backoff and jitter,
/// resubscription on every connect.
///
/// The thread is ours rather than `mosquitto_loop_start`'s because libmosquitto 2.0's automatic reconnect sends
/// no CONNECT properties: an MQTT 5 session would get expiry 0 at the first reconnect and be lost at the second
/// disconnect. Every connect here sends the session expiry interval.
///
/// ## Ownership
/// This class owns the `struct mosquitto *`. ``stop()`` disconnects and joins the network thread; `deinit`
/// destroys the handle and only then releases the callback context that libmosquitto held as `userdata`.
/// Never drop the last reference on the network thread itself (`loop_stop` would join its own thread).
package final class MQTTClient: Sendable {
    /// The callback context passed to libmosquitto as `userdata` (retained while the handle lives).
    private final class Context: Sendable {
        let options: MQTTClientOptions
        /// Set by ``MQTTClient/start(handler:)`` before the network thread exists and cleared by
        /// ``MQTTClient/stop()`` after it ended; between the two only libmosquitto's callbacks read it, and they
        /// run on that thread. So the per-message path takes no lock (Thread.start and the join order the
        /// accesses).
        nonisolated(unsafe) var handler: (any MQTTClientHandler)?
        let connected = Atomic<Bool>(false)
        let subscribed = Atomic<Bool>(false)
        /// Filters granted since the last connect.
        let subscriptionsGranted = Atomic<Int>(0)
        let connects = Atomic<Int>(0)
        let published = Atomic<Int>(0)
        let acknowledged = Atomic<Int>(0)
        /// Connects whose CONNACK said the broker still had our session.
        let resumed = Atomic<Int>(0)
        let stopRequested = Atomic<Bool>(false)
        /// Whether libmosquitto reported the end of the current connection attempt (its disconnect callback).
        let disconnectReported = Atomic<Bool>(false)
        /// Signalled when the network thread ends.
        let threadEnded = DispatchSemaphore(value: 0)

        init(options: MQTTClientOptions) { self.options = options }

        var currentHandler: (any MQTTClientHandler)? { handler }
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
            try mosquitto_int_option(handle, MOSQ_OPT_RECEIVE_MAXIMUM, Int32(options.receiveMaximum)).mosquittoCheck()
            // Other threads publish while ours sits in mosquitto_loop: libmosquitto must lock and wake it.
            try mosquitto_threaded_set(handle, true).mosquittoCheck()
            if options.username != nil || options.password != nil {
                try mosquitto_username_pw_set(handle, options.username, options.password).mosquittoCheck()
            }
            if let tls = options.tls { try Self.configureTLS(handle, tls, host: options.host) }
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
        mosquitto_connect_with_flags_callback_set(handle) { mosq, userdata, code, flags in
            let context = Unmanaged<Context>.fromOpaque(userdata!).takeUnretainedValue()
            if code == 0 {
                context.connected.store(true, ordering: .releasing)
                context.subscribed.store(false, ordering: .releasing)
                context.subscriptionsGranted.store(0, ordering: .relaxed)
                context.connects.add(1, ordering: .relaxed)
                // Session present: the broker kept our subscriptions and queued messages. Subscribing again
                // anyway is harmless and covers a broker that lost the session.
                if flags & 1 != 0 { context.resumed.add(1, ordering: .relaxed) }
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
            context.disconnectReported.store(true, ordering: .relaxed)
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

    /// Connections on which the broker still held our session (subscriptions and queued messages).
    package var resumedSessionCount: Int { context.resumed.load(ordering: .relaxed) }

    /// QoS 1/2 publishes not yet acknowledged by the broker (QoS 0 ones count as acknowledged when sent).
    package var unacknowledgedPublishes: Int {
        context.published.load(ordering: .relaxed) - context.acknowledged.load(ordering: .relaxed)
    }

    /// Starts the network thread, which connects in the background and keeps reconnecting with exponential
    /// backoff and jitter until ``stop()``. A broker that is down at start is not an error.
    package func start(handler: (any MQTTClientHandler)?) throws(MQTTError) {
        guard !started.exchange(true, ordering: .acquiringAndReleasing) else { return }
        context.handler = handler
        // The thread holds the context, never `self`: deinit (which stops the thread) must stay reachable.
        nonisolated(unsafe) let handle = handle
        let (context, options) = (context, options)
        // The first attempt here, as mosquitto_connect_async would: a publish right after start is queued
        // rather than refused for want of a connection.
        let first = Self.connectOnce(handle: handle, options: options)
        let thread = Thread {
            Self.networkLoop(handle: handle, options: options, context: context, first: first)
            context.threadEnded.signal()
        }
        thread.name = "mqtt-\(options.clientID)"
        thread.start()
    }

    /// Connect, run the loop until the connection ends, wait, repeat; until ``stop()``.
    private static func networkLoop(handle: OpaquePointer, options: MQTTClientOptions, context: Context, first: Int32) {
        var delay = Double(options.reconnectMinSeconds)
        var generator = SystemRandomNumberGenerator()
        var attempts = 0
        while !context.stopRequested.load(ordering: .acquiring) {
            context.disconnectReported.store(false, ordering: .relaxed)
            var rc = attempts == 0 ? first : connectOnce(handle: handle, options: options)
            attempts += 1
            if rc == Int32(MOSQ_ERR_SUCCESS.rawValue) {
                while !context.stopRequested.load(ordering: .acquiring) {
                    rc = mosquitto_loop(handle, 200, 1)
                    if rc != Int32(MOSQ_ERR_SUCCESS.rawValue) { break }
                    if context.connected.load(ordering: .relaxed) { delay = Double(options.reconnectMinSeconds) }
                }
            }
            // A refused TCP connect, and a TLS handshake that fails inside mosquitto_loop (a broker certificate
            // that does not verify, a wrong name), end the attempt without libmosquitto's disconnect callback.
            if rc != Int32(MOSQ_ERR_SUCCESS.rawValue), !context.disconnectReported.load(ordering: .relaxed) {
                context.connected.store(false, ordering: .releasing)
                context.currentHandler?.mqttDisconnected(code: rc, description: String(cString: mosquitto_strerror(rc)))
            }
            guard !context.stopRequested.load(ordering: .acquiring) else { break }
            // Full jitter on [delay/2, delay]: a fleet of clients does not reconnect in lock-step.
            let wait = delay / 2 + Double.random(in: 0...(delay / 2), using: &generator)
            let deadline = Date().addingTimeInterval(wait)
            while Date() < deadline, !context.stopRequested.load(ordering: .acquiring) { usleep(20_000) }
            delay = min(delay * 2, Double(options.reconnectMaxSeconds))
        }
    }

    /// One blocking connect, sending the session expiry interval (MQTT 5).
    private static func connectOnce(handle: OpaquePointer, options: MQTTClientOptions) -> Int32 {
        guard options.protocolVersion == .v5, options.sessionExpirySeconds > 0 else {
            return mosquitto_connect(handle, options.host, Int32(options.port), Int32(options.keepAliveSeconds))
        }
        var properties: OpaquePointer? = nil
        defer { mosquitto_property_free_all(&properties) }
        let added = mosquitto_property_add_int32(
            &properties, Int32(MQTT_PROP_SESSION_EXPIRY_INTERVAL.rawValue), UInt32(clamping: options.sessionExpirySeconds)
        )
        guard added == Int32(MOSQ_ERR_SUCCESS.rawValue) else { return added }
        return mosquitto_connect_bind_v5(handle, options.host, Int32(options.port), Int32(options.keepAliveSeconds), nil, properties)
    }

    /// TLS 1.2 or later; the broker's certificate and name verified unless `verify` is false.
    private static func configureTLS(_ handle: OpaquePointer, _ tls: MQTTClientOptions.TLS, host: String) throws(MQTTError) {
        let caPath: String? = tls.caFile == nil ? "/etc/ssl/certs" : nil
        try mosquitto_tls_set(handle, tls.caFile, caPath, tls.certFile, tls.keyFile, nil).mosquittoCheck()
        // "tlsv1.2" is a minimum in libmosquitto: TLS 1.3 is still negotiated when both sides have it.
        try mosquitto_tls_opts_set(handle, tls.verify ? 1 : 0, "tlsv1.2", nil).mosquittoCheck()
        if !tls.verify {
            try mosquitto_tls_insecure_set(handle, true).mosquittoCheck()
        } else if let name = tls.serverName, name != host {
            // libmosquitto 2.0 checks the certificate against the host it connects to and has no option for
            // another name. So: our own SSL_CTX (which libmosquitto fills with the CA and the client
            // certificate, "with defaults") whose verify parameters demand `name`; libmosquitto's own host
            // check is turned off, OpenSSL's chain verification still checks the chain and the name.
            guard let ctx = SSL_CTX_new(TLS_client_method()) else { throw MQTTError(rawValue: Int32(MOSQ_ERR_TLS.rawValue)) }
            guard X509_VERIFY_PARAM_set1_host(SSL_CTX_get0_param(ctx), name, 0) == 1 else {
                SSL_CTX_free(ctx)
                throw MQTTError(rawValue: Int32(MOSQ_ERR_TLS.rawValue))
            }
            // libmosquitto takes a reference of its own (SSL_CTX_up_ref in mosquitto_void_option) and frees it
            // with the handle; ours goes when this scope ends.
            defer { SSL_CTX_free(ctx) }
            try mosquitto_void_option(handle, MOSQ_OPT_SSL_CTX, UnsafeMutableRawPointer(ctx)).mosquittoCheck()
            try mosquitto_int_option(handle, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 1).mosquittoCheck()
            try mosquitto_tls_insecure_set(handle, true).mosquittoCheck()
        }
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
            // Not cut short while disconnected: a reconnect resends what is pending (and a client that has just
            // started has not had its CONNACK yet).
            if Date() >= deadline { return unacknowledgedPublishes <= 0 }
            usleep(2_000)
        }
        return true
    }

    /// Disconnects and joins the network thread. Idempotent. Must not be called on the network thread.
    package func stop() {
        guard started.load(ordering: .acquiring), !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        context.stopRequested.store(true, ordering: .releasing)
        mosquitto_disconnect(handle)
        context.threadEnded.wait()
        context.handler = nil
    }
}
