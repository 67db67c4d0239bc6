import Testing
import VigilCore

/// The payload shape `vigil-bench` measures with: if the decoder or the engine stopped accepting it, the
/// benchmark would time the rejection path instead (it also checks this at run time, and fails).
@Suite struct BenchmarkPayloadTests {
    static let payload = #"{"ts":1764072612003,"temperature":21.37,"humidity":45.12,"pressure":1013.2,"battery":3.71}"#

    @Test func decodesIntoFourMetricsAndAnEventTime() throws {
        var decoder = PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        let fields = try decoder.decodeFields(Self.payload)
        #expect(
            fields == [
                DecodedField("temperature", 21.37), DecodedField("humidity", 45.12),
                DecodedField("pressure", 1013.2), DecodedField("battery", 3.71),
            ])
        #expect(decoder.eventTime == 1_764_072_612.003)
    }

    @Test func theEngineScoresEveryMetricOfKnownDevices() {
        var engine = DetectionEngine(
            settings: DetectionSettings(),
            decoder: PayloadDecoder(limits: PayloadLimits(), timestampField: "ts", timestampUnit: .auto)
        )
        let payload = Array(Self.payload.utf8)
        for device in ["dev-000001", "dev-000002"] {
            let id = Array(device.utf8)
            for _ in 0..<3 {
                let result = id.withUnsafeBytes { id in
                    payload.withUnsafeBytes { payload in
                        engine.process(device: id, payload: payload, receivedAtNanos: 0) { _ in }
                    }
                }
                #expect(result.rejection == nil)
                #expect(result.samples == 4)
                #expect(result.droppedMetrics == 0)
            }
        }
        #expect(engine.deviceCount == 2)
    }
}
