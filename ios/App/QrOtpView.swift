import SwiftUI
import Nyckel
import NyckelFFI

/// A scanned login or transaction code: what it is for and its exact details, the PIN (or
/// Face ID/Touch ID when biometric unlock is on; a failed prompt leaves the PIN pad), then the
/// 8-digit one-time password to type into the page. Works offline.
struct QrOtpView: View {
    @ObservedObject var model: AccountsModel
    let payload: String
    let request: QrOtpRequest
    let close: () -> Void

    private enum Phase {
        case entering
        case computing
        case done(String)
        case failed(String)
    }

    @State private var phase = Phase.entering
    @State private var pin = ""
    @State private var registrationId: String?
    /// Why the last Face ID/Touch ID attempt failed; shown over the PIN pad, which stays.
    @State private var biometricNotice: String?

    var body: some View {
        NavigationStack {
            ScrollView {
                VStack(spacing: 16) {
                    RequestContextView(service: request.service, action: request.action, transaction: request.transaction)
                    switch phase {
                    case .entering, .computing:
                        if request.registrations.count > 1 {
                            // Several registrations share this server key: the core needs to know which.
                            Picker("Registration", selection: $registrationId) {
                                ForEach(request.registrations, id: \.id) { registration in
                                    Text(registration.name).tag(Optional(registration.id))
                                }
                            }
                        }
                        if let notice = biometricNotice {
                            Text(notice).foregroundStyle(.red).multilineTextAlignment(.center)
                        }
                        if let chosen = chosenRegistration, model.biometrics[chosen] == true {
                            Button("Use \(biometryName())") { computeWithBiometrics(chosen) }
                                .buttonStyle(.borderedProminent)
                                .disabled(!isEntering)
                            Text("or").font(.caption).foregroundStyle(.secondary)
                        }
                        PinPad(title: "Enter your PIN", pin: $pin, enabled: isEntering && chosenRegistration != nil) {
                            compute()
                        }
                        if !isEntering { ProgressView() }
                    case .done(let otp):
                        Text("Type this code into the page:")
                        Text(grouped(otp))
                            .font(.system(size: 44, weight: .semibold, design: .monospaced))
                            .textSelection(.enabled)
                        Text("If the page does not accept it, the PIN was probably mistyped: scan again.")
                            .font(.caption)
                            .foregroundStyle(.secondary)
                        Button("Done", action: close).buttonStyle(.borderedProminent)
                    case .failed(let message):
                        Text(message).foregroundStyle(.red)
                        Button("Close", action: close)
                    }
                }
                .padding()
            }
            .navigationTitle(request.isTransaction ? "Confirm a transaction" : "One-time password")
            .toolbar {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel", action: close)
                }
            }
        }
    }

    private var isEntering: Bool {
        if case .entering = phase { return true }
        return false
    }

    /// The one registration that can answer, or the one picked among several.
    private var chosenRegistration: String? {
        registrationId ?? (request.registrations.count == 1 ? request.registrations[0].id : nil)
    }

    private func compute() {
        let entered = pin
        let registration = chosenRegistration
        pin = ""
        biometricNotice = nil
        phase = .computing
        Task { @MainActor in
            do {
                let otp = try await model.qrOtp(payload: payload, registrationId: registration, pin: entered)
                phase = .done(otp)
            } catch {
                phase = .failed(describe(error))
            }
        }
    }

    private func computeWithBiometrics(_ registration: String) {
        biometricNotice = nil
        phase = .computing
        Task { @MainActor in
            do {
                let otp = try await model.qrOtpWithBiometrics(payload: payload, registrationId: registration)
                phase = .done(otp)
            } catch let error where isBiometricError(error) {
                // Cancelled, locked out, changed or unavailable: back to the PIN pad, with why.
                biometricNotice = describe(error)
                phase = .entering
            } catch {
                phase = .failed(describe(error))
            }
        }
    }

    private func grouped(_ otp: String) -> String {
        otp.count == 8 ? "\(otp.prefix(4)) \(otp.suffix(4))" : otp
    }
}
