import SwiftUI
import Nyckel
import NyckelFFI

/// A pushed request: who asks, for what, from where and when, the transaction's exact lines,
/// number matching; Continue asks the PIN, or "Use Face ID/Touch ID" when biometric unlock is on
/// for the registration (a failed prompt falls back to the PIN pad). Deny and "Not me" need no
/// PIN, so refusing is easy. privacyIDEA and tiqr requests say whose server sent them; a
/// privacyIDEA token without an app PIN approves without the pad; privacyIDEA's decline takes a
/// reason; a scanned tiqr login can instead show the response to type when the phone is offline.
/// The same screen as Android's ApprovalScreen.
struct ApprovalView: View {
    @ObservedObject var model: ApprovalsModel
    let request: ApprovalRequest
    /// Set when the request asks to add a new phone: shown instead of a sign-in's details.
    let newDevice: NewDeviceInfo?

    @State private var number = ""
    @State private var askingPin = false
    @State private var pin = ""
    /// The tiqr offline path: its own PIN pad, then the response to type.
    @State private var offline = false
    @State private var offlinePhase = OfflinePhase.pin

    private enum OfflinePhase {
        case pin
        case computing
        case shown(String)
        case failed(String)
    }

    var body: some View {
        NavigationStack {
            ScrollView {
                VStack(alignment: .leading, spacing: 16) {
                    if let device = newDevice {
                        NewDeviceCard(device: device)
                    } else {
                        RequestContextView(
                            service: request.service,
                            action: request.action,
                            transaction: request.transaction,
                            browser: request.browser,
                            ip: request.ip,
                            place: request.place,
                            time: request.time.map(formatTime)
                        )
                    }
                    TimelineView(.periodic(from: .now, by: 1)) { context in
                        Text("For \(request.registrationName) · expires in \(remaining(at: context.date))")
                            .font(.caption)
                            .foregroundStyle(.secondary)
                    }
                    // privacyIDEA and tiqr requests arrive in the same list: say whose server sent them.
                    switch request.provider {
                    case .privacyIdea:
                        Text("privacyIDEA push · \(request.serverHost)").font(.caption).foregroundStyle(.secondary)
                    case .tiqr:
                        Text("tiqr · \(request.serverHost)").font(.caption).foregroundStyle(.secondary)
                    case .nyckel:
                        EmptyView()
                    }
                    if request.pinCheck == .localGate {
                        Text(localGateNotice()).font(.caption).foregroundStyle(.secondary)
                    }
                    if let failed = model.answerError, failed.challengeId == request.challengeId {
                        Text(failed.message).foregroundStyle(.red)
                    }
                    actions
                }
                .padding()
            }
            .navigationTitle(title)
        }
        .onChange(of: model.answering) { busy in
            // The biometric path failed (cancelled, locked out, changed, unavailable): the PIN pad takes over.
            if !busy, let failed = model.answerError, failed.challengeId == request.challengeId, failed.usePin {
                askingPin = true
            }
        }
        .task(id: request.challengeId) {
            // When the request expires, re-reading the open requests takes it off the screen.
            let left = Double(request.expiresAt) - Date().timeIntervalSince1970
            if left > 0 {
                try? await Task.sleep(nanoseconds: UInt64(left * 1_000_000_000))
            }
            if !Task.isCancelled { model.refresh() }
        }
    }

    @ViewBuilder
    private var actions: some View {
        if model.answering {
            ProgressView().frame(maxWidth: .infinity)
        } else if offline {
            offlineResponse.frame(maxWidth: .infinity)
        } else if askingPin {
            PinPad(
                title: request.pinCheck == .localGate ? "Enter the app PIN (checked on this phone only)" : "Enter your PIN to approve",
                pin: $pin,
                doneLabel: "Approve"
            ) {
                model.approve(request, pin: pin, number: request.numberChoice == nil ? nil : number)
                pin = ""
            }
            .frame(maxWidth: .infinity)
            Button("Back") { askingPin = false }.frame(maxWidth: .infinity)
        } else {
            numberMatching
            if model.biometricRegistrations.contains(request.registrationId) {
                Button {
                    model.approveWithBiometrics(request, number: request.numberChoice == nil ? nil : number)
                } label: {
                    Text("Use \(biometryName())").frame(maxWidth: .infinity)
                }
                .buttonStyle(.borderedProminent)
                .disabled(!numberReady)
                Button {
                    askingPin = true
                } label: {
                    Text("Use PIN").frame(maxWidth: .infinity)
                }
                .buttonStyle(.bordered)
                .disabled(!numberReady)
            } else if request.pinCheck == PinCheck.none {
                // A privacyIDEA token without an app PIN: nothing to ask.
                Button {
                    model.approve(request, pin: "", number: request.numberChoice == nil ? nil : number)
                } label: {
                    Text("Approve").frame(maxWidth: .infinity)
                }
                .buttonStyle(.borderedProminent)
                .disabled(!numberReady)
            } else {
                Button {
                    askingPin = true
                } label: {
                    Text("Continue").frame(maxWidth: .infinity)
                }
                .buttonStyle(.borderedProminent)
                .disabled(!numberReady)
            }
            if model.canRespondOffline(request) {
                Button("Offline? Show the response to type") {
                    offlinePhase = .pin
                    offline = true
                }
                .frame(maxWidth: .infinity)
            }
            if request.declineReasons {
                // privacyIDEA takes the reason with the decline.
                Button {
                    model.deny(request, reason: .cancelled)
                } label: {
                    Text("Deny: I changed my mind").frame(maxWidth: .infinity)
                }
                .buttonStyle(.bordered)
                Button(role: .destructive) {
                    model.deny(request, reason: .unknownTrigger)
                } label: {
                    Text("Not me: I did not start this").frame(maxWidth: .infinity)
                }
            } else {
                Button {
                    model.deny(request)
                } label: {
                    Text("Deny").frame(maxWidth: .infinity)
                }
                .buttonStyle(.bordered)
                // Only Nyckel's server records a fraud report; tiqr has no decline on the wire.
                if request.provider == .nyckel {
                    Button(role: .destructive) {
                        model.reportFraud(request)
                    } label: {
                        Text("Not me: deny and report").frame(maxWidth: .infinity)
                    }
                }
            }
        }
    }

    private var title: String {
        if newDevice != nil { return "Add a new phone?" }
        if let title = request.title, !title.trimmingCharacters(in: .whitespaces).isEmpty { return title }
        return request.transaction.isEmpty ? "Approve sign-in?" : "Confirm this change?"
    }

    /// tiqr offline: the tiqr PIN on the pad, then the response to type on the login page. Any
    /// PIN gives digits; the server checks them when typed and counts a wrong one.
    @ViewBuilder
    private var offlineResponse: some View {
        switch offlinePhase {
        case .pin:
            PinPad(title: "Enter your tiqr PIN", pin: $pin, doneLabel: "Show response") {
                let entered = pin
                pin = ""
                offlinePhase = .computing
                Task { @MainActor in
                    do {
                        offlinePhase = .shown(try await model.offlineResponse(request, pin: entered))
                    } catch {
                        offlinePhase = .failed(describe(error))
                    }
                }
            }
            Button("Back") { offline = false }
        case .computing:
            ProgressView()
        case .shown(let response):
            Text("Type this on the login page:")
            Text(response).font(.largeTitle.monospacedDigit()).textSelection(.enabled)
            Text("The server checks it: a wrong PIN gives a wrong response, and counts.")
                .font(.caption).foregroundStyle(.secondary)
            Button("Done") { model.finishOffline(request) }.buttonStyle(.borderedProminent)
        case .failed(let message):
            Text(message).foregroundStyle(.red)
            Button("Back") { offline = false }
        }
    }

    @ViewBuilder
    private var numberMatching: some View {
        switch request.numberChoice {
        case .choose(let choices)?:
            Text("Tap the number shown in your browser")
            HStack(spacing: 12) {
                ForEach(choices, id: \.self) { candidate in
                    Button {
                        number = candidate
                    } label: {
                        Text(candidate).font(.title2.monospacedDigit()).frame(minWidth: 56)
                    }
                    .buttonStyle(.bordered)
                    .tint(candidate == number ? Color.accentColor : Color.secondary)
                }
            }
        case .type(let digits)?:
            TextField("Number shown in your browser", text: $number)
                .keyboardType(.numberPad)
                .textFieldStyle(.roundedBorder)
                .onChange(of: number) { typed in
                    let cleaned = String(typed.filter { $0.isASCII && $0.isNumber }.prefix(Int(digits)))
                    if cleaned != typed { number = cleaned }
                }
        case nil:
            EmptyView()
        }
    }

    private var numberReady: Bool {
        switch request.numberChoice {
        case .choose(let choices)?: return choices.contains(number)
        case .type(let digits)?: return number.count == Int(digits)
        case nil: return true
        }
    }

    private func remaining(at date: Date) -> String {
        let seconds = max(0, Int(Double(request.expiresAt) - date.timeIntervalSince1970))
        return String(format: "%d:%02d", seconds / 60, seconds % 60)
    }
}

/// What a request is for: service, action, where and when it came from, and the transaction lines verbatim.
struct RequestContextView: View {
    let service: String
    let action: String
    let transaction: [DetailLine]
    var browser: String?
    var ip: String?
    var place: String?
    var time: String?

    var body: some View {
        VStack(alignment: .leading, spacing: 6) {
            Text(service).font(.title2.bold())
            Text(action).font(.headline)
            field("Browser", browser)
            field("IP address", ip)
            field("Place", place)
            field("Time", time)
        }
        .frame(maxWidth: .infinity, alignment: .leading)
        .padding()
        .background(.thinMaterial, in: RoundedRectangle(cornerRadius: 12))
        if !transaction.isEmpty {
            // Shown exactly as received: the answer is bound to these bytes, so no trimming or reformatting.
            VStack(alignment: .leading, spacing: 8) {
                ForEach(Array(transaction.enumerated()), id: \.offset) { _, line in
                    Text(line.key).font(.subheadline.bold())
                    Text(line.value).font(.body.monospaced()).textSelection(.enabled)
                }
            }
            .frame(maxWidth: .infinity, alignment: .leading)
            .padding()
            .background(.thinMaterial, in: RoundedRectangle(cornerRadius: 12))
        }
    }

    @ViewBuilder
    private func field(_ label: String, _ value: String?) -> some View {
        if let value {
            (Text("\(label): ").bold() + Text(value)).font(.subheadline)
        }
    }
}

/// A Unix time as the user's locale writes a date and time.
func formatTime(_ unixSeconds: UInt64) -> String {
    Date(timeIntervalSince1970: TimeInterval(unixSeconds)).formatted(date: .abbreviated, time: .shortened)
}
