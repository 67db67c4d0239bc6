package import VigilPipeline

/// Connects the ingest connection's network thread to the pipeline: every message goes to the router, stamped
/// with its receive time; connection changes are logged.
package final class RouterHandler: MQTTClientHandler {
    private let router: Router
    private let log: ConnectionLog

    package init(router: Router, logger: Logger, broker: String) {
        self.router = router
        log = ConnectionLog(logger: logger, broker: broker, connection: "ingest")
    }

    package func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        router.route(topic: topic, payload: payload, receivedAtNanos: WallClock.nowNanos())
    }

    package func mqttConnected(code: Int32, description: String) { log.mqttConnected(code: code, description: description) }
    package func mqttSubscribed(granted: [Int32]) { log.mqttSubscribed(granted: granted) }
    package func mqttDisconnected(code: Int32, description: String) { log.mqttDisconnected(code: code, description: description) }
}

/// Logs one connection's changes: connected, refused, subscribed, lost. The handler of the outbound connection,
/// which receives no messages.
package final class ConnectionLog: MQTTClientHandler {
    private let logger: Logger
    private let fields: [(String, String)]
    private let connection: String

    package init(logger: Logger, broker: String, connection: String) {
        self.logger = logger
        self.connection = connection
        fields = [("broker", broker), ("connection", connection)]
    }

    package func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {}

    package func mqttConnected(code: Int32, description: String) {
        if code == 0 {
            logger.info(connection == "ingest" ? "connected and subscribing" : "connected", fields)
        } else {
            logger.error("broker refused the connection", fields + [("reason", description)], limitKey: "connack-\(connection)")
        }
    }

    package func mqttSubscribed(granted: [Int32]) {
        let refused = granted.filter { $0 >= 0x80 }.count
        if refused > 0 {
            logger.error("the broker refused a subscription", fields + [("refused", String(refused))], limitKey: "suback")
        } else {
            logger.info("subscribed", fields + [("granted_qos", granted.map(String.init).joined(separator: ","))])
        }
    }

    package func mqttDisconnected(code: Int32, description: String) {
        if code != 0 {
            logger.warning("connection lost; reconnecting with backoff", fields + [("reason", description)], limitKey: "disconnect-\(connection)")
        }
    }
}
