import Foundation
import NyckelFFI

/// Adding a phone (PROTOCOL.md §6.5): the registered phone's "add a phone" code, the new
/// phone's request and wait for approval, and the user's devices with retiring.
@MainActor
public final class NewPhoneModel: ObservableObject {
    /// Where registering this phone from another phone's code stands.
    public enum NewPhoneState {
        case idle
        case requesting
        case waiting(NewPhoneRequest)
        case registered(RegistrationInfo)
        case denied
        case expired
        case failed(String)
    }

    /// The "add a phone" code on the registered phone.
    @Published public private(set) var code: AddPhoneCode?
    @Published public private(set) var codeError: String?
    @Published public private(set) var makingCode = false
    @Published public private(set) var newPhone: NewPhoneState = .idle
    @Published public private(set) var devices: [UserDevice] = []
    @Published public private(set) var devicesError: String?
    /// What retiring a device ended with (success or failure), shown over the list.
    @Published public var retireMessage: String?
    @Published public private(set) var retiring = false

    private let core: Nyckel
    private var waitTask: Task<Void, Never>?

    public init(core: Nyckel) {
        self.core = core
    }

    /// Asks the server for an "add a phone" code naming the new phone `deviceName`.
    public func makeCode(registrationId: String, deviceName: String) {
        if makingCode { return }
        makingCode = true
        codeError = nil
        code = nil
        Task {
            do {
                code = try await core.addPhoneCode(registrationId: registrationId, deviceName: deviceName)
            } catch {
                codeError = describe(error)
            }
            makingCode = false
        }
    }

    /// Starts over on the new phone unless a request is still waiting.
    public func resetNewPhone() {
        switch newPhone {
        case .waiting, .requesting: return
        default: newPhone = .idle
        }
    }

    /// Sends the new phone's request (the PIN was asked twice), then waits for the decision:
    /// each wait long-polls up to 25 s and is repeated while nobody decided.
    public func request(payload: String, pin: String) {
        switch newPhone {
        case .idle, .failed: break
        default: return
        }
        newPhone = .requesting
        waitTask = Task {
            let request: NewPhoneRequest
            do {
                request = try await core.requestNewPhone(
                    payload: payload.trimmingCharacters(in: .whitespacesAndNewlines), pin: pin)
            } catch {
                newPhone = .failed(describe(error))
                return
            }
            newPhone = .waiting(request)
            while !Task.isCancelled {
                do {
                    let progress = try await core.waitNewPhone(enrollmentId: request.enrollmentId, waitSeconds: 25)
                    if case .registered(let registration) = progress {
                        newPhone = .registered(registration)
                        return
                    }
                } catch NyckelError.Refused {
                    newPhone = .denied
                    return
                } catch NyckelError.RequestClosed {
                    newPhone = .expired
                    return
                } catch {
                    if !Task.isCancelled { newPhone = .failed(describe(error)) }
                    return
                }
            }
        }
    }

    /// Stops waiting; the device key made for the request is deleted.
    public func cancel() {
        if case .waiting(let request) = newPhone {
            try? core.cancelNewPhone(enrollmentId: request.enrollmentId)
        }
        waitTask?.cancel()
        waitTask = nil
        newPhone = .idle
    }

    /// The new phone an open request asks to add, or nil for a sign-in or transaction.
    public func newDevice(for request: ApprovalRequest) -> NewDeviceInfo? {
        (try? core.pendingNewDevice(registrationId: request.registrationId, challengeId: request.challengeId)) ?? nil
    }

    /// Reads the registration user's devices from the server.
    public func loadDevices(registrationId: String) {
        devicesError = nil
        Task {
            do {
                devices = try await core.userDevices(registrationId: registrationId)
            } catch {
                devicesError = describe(error)
            }
        }
    }

    /// Retires a device: another one needs this phone's PIN (a wrong one counts like a wrong
    /// approval); this phone's own is unregistered and forgotten, the PIN ignored. `done` runs
    /// after this phone retired itself.
    public func retire(registrationId: String, device: UserDevice, pin: String, done: @escaping () -> Void) {
        if retiring { return }
        retiring = true
        Task {
            do {
                try await core.retireDevice(registrationId: registrationId, deviceId: device.deviceId, pin: pin)
                retireMessage = "Retired \(device.name)."
                retiring = false
                if device.thisDevice {
                    done()
                    return
                }
            } catch {
                retireMessage = describe(error)
                retiring = false
            }
            loadDevices(registrationId: registrationId)
        }
    }
}
