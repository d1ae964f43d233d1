import Foundation
import NyckelFFI

/// The device clock, as the Rust core asks for it.
public final class DeviceClock: PlatformClock {
    public init() {}

    public func nowUnixSeconds() -> UInt64 {
        UInt64(max(0, Date().timeIntervalSince1970))
    }
}
