package import VigilPipeline

/// Connects the MQTT network thread to the pipeline: every message goes to the router, stamped with its
/// receive time; connection changes are logged.
package final class RouterHandler: MQTTClientHandler {
    private let router: Router
    private let logger: Logger
    private let broker: String

    package init(router: Router, logger: Logger, broker: String) {
        self.router = router
        self.logger = logger
        self.broker = broker
    }

    package func mqttMessage(topic: UnsafeRawBufferPointer, payload: UnsafeRawBufferPointer) {
        router.route(topic: topic, payload: payload, receivedAtNanos: WallClock.nowNanos())
    }

    package func mqttConnected(code: Int32, description: String) {
        if code == 0 {
            logger.info("connected and subscribing", [("broker", broker)])
        } else {
            logger.error("broker refused the connection", [("broker", broker), ("reason", description)], limitKey: "connack")
        }
    }

    package func mqttSubscribed(granted: [Int32]) {
        let refused = granted.filter { $0 >= 0x80 }.count
        if refused > 0 {
            logger.error("the broker refused a subscription", [("broker", broker), ("refused", String(refused))], limitKey: "suback")
        } else {
            logger.info("subscribed", [("broker", broker), ("granted_qos", granted.map(String.init).joined(separator: ","))])
        }
    }

    package func mqttDisconnected(code: Int32, description: String) {
        if code != 0 {
            logger.warning("connection lost; reconnecting with backoff", [("broker", broker), ("reason", description)], limitKey: "disconnect")
        }
    }
}
