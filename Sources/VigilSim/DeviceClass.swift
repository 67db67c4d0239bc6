/// A kind of device in the simulated fleet: the metrics it reports, one ``MetricSpec`` per row of its table,
/// and the metric each anomaly kind goes into.
///
/// Classes are data, not a type hierarchy: ``DeviceSignal`` walks the table row by row, in order, so a row may
/// read the rows above it (a meter's voltage sags with its power; its energy counter integrates it). Anomaly
/// sizes are in units of a metric's ``MetricSpec/scale`` (its noise), so a spike is as hard to find on a
/// power meter as on a room sensor.
///
/// - `environment`: a room sensor (today's fleet, unchanged): `temperature`, `load`, `count`.
/// - `power_meter`: an electricity meter: `power` (W; a household's daily load curve, a different weekend),
///   `voltage` (V; near 230, sagging with the load), `energy` (kWh, a cumulative counter).
/// - `controller`: a heating zone controller: `setpoint` (°C; a comfort/setback schedule), `zone_temp` (°C;
///   follows the setpoint with a lag), `valve` (%; the loop's output), `cycles` (burner starts, a counter).
package struct DeviceClass: Sendable, Equatable {
    package var name: String
    package var metrics: [MetricSpec]
    /// The row (index into `metrics`) each per-metric anomaly kind goes into; floods, silences and payload
    /// bursts are the device's as a whole.
    package var targets: [SyntheticFleet.Kind: Int]

    /// The metric an anomaly of `kind` changes on a device of this class (nil: the device's traffic).
    package func metric(for kind: SyntheticFleet.Kind) -> String? { targets[kind].map { metrics[$0].name } }

    /// Every class, in the order scenario fractions are assigned.
    package static let all: [DeviceClass] = [environment, powerMeter, controller]

    package static func named(_ name: String) -> DeviceClass? { all.first { $0.name == name } }

    /// A room environment sensor. Its rows reproduce the original fleet's draws and arithmetic exactly (the
    /// shipped trace and the quality figures depend on them).
    package static let environment = DeviceClass(
        name: "environment",
        metrics: [
            MetricSpec(name: "temperature", signal: .daily(mean: 21, amplitude: 3, noise: 0.4), decimals: 2, scale: 0.4),
            MetricSpec(name: "load", signal: .heavyTailedAR(mean: 40, phi: 0.9, shock: 0.5), decimals: 3, scale: 1),
            MetricSpec(name: "count", signal: .poisson(mean: 3), decimals: 0, scale: 1),
        ],
        targets: [.spike: 0, .dip: 0, .levelShift: 0, .drift: 0, .stuck: 0, .varianceBurst: 1]
    )

    /// An electricity meter. Power takes the load anomalies (an inrush, a drop-out, an appliance left on);
    /// voltage the grid ones (a creeping rise as rooftop solar feeds in, flicker, a frozen register).
    package static let powerMeter = DeviceClass(
        name: "power_meter",
        metrics: [
            MetricSpec(name: "power", signal: .loadCurve(phi: 0.8, shock: 12), decimals: 1, scale: 20),
            MetricSpec(name: "voltage", signal: .supplyVoltage(nominal: 230, droopPerWatt: 0.002, power: 0, noise: 0.5), decimals: 1, scale: 0.5),
            MetricSpec(name: "energy", signal: .energy(power: 0), decimals: 3, scale: 0),
        ],
        targets: [.spike: 0, .dip: 0, .levelShift: 0, .drift: 1, .stuck: 1, .varianceBurst: 1]
    )

    /// A heating zone controller. The zone temperature takes the sensor faults (glitches, a calibration drift);
    /// the valve the actuator ones (an offset from a leak, a seized valve, a hunting loop).
    package static let controller = DeviceClass(
        name: "controller",
        metrics: [
            MetricSpec(name: "setpoint", signal: .schedule(comfort: 21, setback: 17), decimals: 1, scale: 0),
            MetricSpec(name: "zone_temp", signal: .lag(target: 0, tau: 1200, noise: 0.15), decimals: 2, scale: 0.15),
            MetricSpec(
                name: "valve", signal: .actuator(setpoint: 0, process: 1, gain: 8, phi: 0.9, shock: 1), decimals: 1,
                scale: 2.5, range: 0...100
            ),
            MetricSpec(name: "cycles", signal: .events(perSecond: 1.0 / 600), decimals: 0, scale: 0),
        ],
        targets: [.spike: 1, .dip: 1, .levelShift: 2, .drift: 1, .stuck: 2, .varianceBurst: 2]
    )
}

/// One metric of a ``DeviceClass``: its name in the payload, how it behaves, how it is written.
package struct MetricSpec: Sendable, Equatable {
    package var name: String
    package var signal: Signal
    /// Digits after the point in the payload; 0 writes an integer.
    package var decimals: Int
    /// The metric's noise, the unit of its anomalies: a spike adds 32 of it, a level shift 4, a drift up to 8,
    /// a variance burst multiplies the noise by 6. 0 for metrics no anomaly goes into (schedules, counters).
    package var scale: Double
    /// Physical limits the value is held to after any anomaly (a valve's 0-100 %).
    package var range: ClosedRange<Double>? = nil

    /// How a metric's value is made at each report. `hour` is hours since ``SyntheticFleet/start``; "local"
    /// times are shifted by the device's own offset (up to an hour either way), so that a fleet does not step
    /// in unison. Rows that read another row name it by its index, which must be above them.
    package enum Signal: Sendable, Equatable {
        /// `mean + amplitude·sin(2π·hour/24 + phase) + noise·N(0,1)`: a daily cycle with a per-device phase.
        case daily(mean: Double, amplitude: Double, noise: Double)
        /// `mean + x`, `x ← phi·x + shock·t₃`: AR(1) with heavy-tailed (Student-t, 3 dof) shocks.
        case heavyTailedAR(mean: Double, phi: Double, shock: Double)
        /// Poisson counts with this mean.
        case poisson(mean: Double)
        /// A household's electrical load (W): a base load with morning, midday and evening peaks (later and
        /// larger at weekends), times the device's size (0.6-1.6), plus AR(1) Gaussian noise.
        case loadCurve(phi: Double, shock: Double)
        /// Supply voltage: nominal, a volt or two higher at night, sagging by `droopPerWatt` with row `power`
        /// (above 500 W), plus Gaussian noise.
        case supplyVoltage(nominal: Double, droopPerWatt: Double, power: Int, noise: Double)
        /// A cumulative energy register (kWh) integrating row `power` (W), from a random reading.
        case energy(power: Int)
        /// A heating schedule (local time): comfort 06-22 on weekdays and 08-23 at weekends, setback otherwise,
        /// with half-hour ramps between them.
        case schedule(comfort: Double, setback: Double)
        /// A process value following row `target` with a first-order lag of `tau` seconds, plus Gaussian noise.
        case lag(target: Int, tau: Double, noise: Double)
        /// An actuator's position (%): a base demand that is higher at night, `gain` times the control error
        /// (row `setpoint` minus row `process`), and AR(1) Gaussian noise.
        case actuator(setpoint: Int, process: Int, gain: Double, phi: Double, shock: Double)
        /// An event counter: one more with probability `perSecond` times the time since the last report.
        case events(perSecond: Double)
    }
}
