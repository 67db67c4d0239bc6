import CMosquitto

/// A libmosquitto result code (`MOSQ_ERR_*`), with its text from `mosquitto_strerror`.
package struct MQTTError: Error, RawRepresentable, Sendable, Equatable, CustomStringConvertible {
    package var rawValue: Int32
    package init(rawValue: Int32) { self.rawValue = rawValue }

    package static let noConnection = MQTTError(rawValue: Int32(MOSQ_ERR_NO_CONN.rawValue))
    package static let invalid = MQTTError(rawValue: Int32(MOSQ_ERR_INVAL.rawValue))
    package static let payloadSize = MQTTError(rawValue: Int32(MOSQ_ERR_PAYLOAD_SIZE.rawValue))

    package var description: String {
        String(cString: mosquitto_strerror(rawValue))
    }
}

extension Int32 {
    /// Throws unless this is `MOSQ_ERR_SUCCESS`.
    func mosquittoCheck() throws(MQTTError) {
        if self != Int32(MOSQ_ERR_SUCCESS.rawValue) { throw MQTTError(rawValue: self) }
    }
}
