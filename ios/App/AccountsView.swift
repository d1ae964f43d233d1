import SwiftUI
import Nyckel
import NyckelFFI

/// The main screen: registrations with Nyckel servers, privacyIDEA push and tiqr tokens (swipe
/// to remove, confirmed), then accounts with live codes and a countdown. Scanning adds accounts,
/// registers the phone, adds a token, or answers a login QR code (a tiqr login goes to the
/// approval screen).
struct AccountsView: View {
    @ObservedObject var model: AccountsModel
    @ObservedObject var approvals: ApprovalsModel
    let history: HistoryModel
    let transfer: TransferModel
    let newPhone: NewPhoneModel
    @State private var sheet: AccountsSheet?
    @State private var removing: RegistrationInfo?
    @State private var removingToken: TokenInfo?

    var body: some View {
        NavigationStack {
            List {
                if let notice = approvals.notice {
                    Button(notice) { approvals.notice = nil }
                }
                Section {
                    if model.registrations.isEmpty {
                        Text("To register this device, scan the QR code your service shows under \"Add a mobile device\".")
                            .font(.callout)
                            .foregroundStyle(.secondary)
                    }
                    ForEach(model.registrations, id: \.id) { registration in
                        VStack(alignment: .leading) {
                            // Built from signed facts; the unsigned QR label only as secondary text.
                            Text(registration.name).font(.headline)
                            if let label = registration.label {
                                Text(label).font(.caption).foregroundStyle(.secondary)
                            }
                            Text("Device \(registration.deviceFingerprint)").font(.caption).foregroundStyle(.secondary)
                            // On asks the PIN once (its own sheet); off needs nothing and keeps the PIN.
                            Toggle("Unlock with \(biometryName())", isOn: Binding(
                                get: { model.biometrics[registration.id] == true },
                                set: { on in
                                    if on {
                                        sheet = .enableBiometrics(registration)
                                    } else {
                                        model.disableBiometrics(registration)
                                    }
                                }
                            ))
                            .font(.subheadline)
                        }
                        .swipeActions {
                            Button("Remove", role: .destructive) { removing = registration }
                            Button("Change PIN") { sheet = .changePin(registration) }.tint(.blue)
                        }
                        .swipeActions(edge: .leading) {
                            Button("Add a phone") { sheet = .addPhone(registration) }.tint(.green)
                            Button("My devices") { sheet = .devices(registration) }.tint(.indigo)
                        }
                    }
                } header: {
                    Text("Registered with")
                } footer: {
                    if let error = approvals.pollingError { Text(error) }
                }
                if !model.tokens.isEmpty {
                    Section("privacyIDEA and tiqr tokens") {
                        ForEach(model.tokens, id: \.id) { token in
                            VStack(alignment: .leading) {
                                Text(token.service.isEmpty ? token.serverHost : token.service).font(.headline)
                                Text("\(token.provider == .tiqr ? "tiqr" : "privacyIDEA push") · \(token.serverHost)")
                                    .font(.caption).foregroundStyle(.secondary)
                                let who = [token.account, token.serial].filter { !$0.isEmpty }.joined(separator: " · ")
                                if !who.isEmpty {
                                    Text(who).font(.caption).foregroundStyle(.secondary)
                                }
                                if token.pinCheck == .localGate {
                                    Toggle("Unlock app PIN with \(biometryName())", isOn: Binding(
                                        get: { model.biometrics[token.id] == true },
                                        set: { on in
                                            if on {
                                                sheet = .enableTokenBiometrics(token)
                                            } else {
                                                model.disableTokenBiometrics(token)
                                            }
                                        }
                                    ))
                                    .font(.subheadline)
                                }
                            }
                            .swipeActions {
                                Button("Remove", role: .destructive) { removingToken = token }
                            }
                        }
                    }
                }
                Section("Accounts") {
                    ForEach(model.codes, id: \.account.id) { entry in
                        CodeRow(entry: entry, hotpCode: model.hotpCodes[entry.account.id]) {
                            model.nextCode(for: entry.account)
                        }
                        .swipeActions {
                            Button("Delete", role: .destructive) { model.delete(entry.account) }
                        }
                    }
                }
            }
            .navigationTitle("Nyckel")
            .toolbar {
                Menu {
                    Button("History") { sheet = .history }
                    Button("Import from another app") { sheet = .importFile }
                    Button("Export to Aegis") { sheet = .export }
                    Button("Register from my other phone") { sheet = .newPhone }
                } label: {
                    Image(systemName: "ellipsis.circle")
                }
                .accessibilityLabel("More")
                Button {
                    sheet = .scanner
                } label: {
                    Image(systemName: "qrcode.viewfinder")
                }
                .accessibilityLabel("Scan QR code")
            }
            .sheet(item: $sheet) { current in
                switch current {
                case .scanner:
                    ScannerView { code in
                        let destination = model.route(scanned: code)
                        if case .tiqrLogin(let payload, let request)? = destination {
                            // The login joins the inbox; the approval screen replaces this one.
                            approvals.add(scannedLogin: request, payload: payload)
                            sheet = nil
                        } else {
                            // Swapping the item replaces the scanner sheet with where the code leads.
                            sheet = destination.map(AccountsSheet.destination)
                        }
                    }
                case .destination(.register(let payload)):
                    RegistrationView(model: model, payload: payload) { sheet = nil }
                case .destination(.qrOtp(let payload, let request)):
                    QrOtpView(model: model, payload: payload, request: request) { sheet = nil }
                case .destination(.addToken(let payload, let tiqr)):
                    AddTokenView(model: model, payload: payload, tiqr: tiqr) { sheet = nil }
                case .destination(.tiqrLogin):
                    // Routed to the approval screen when scanned; never shown as a sheet.
                    EmptyView()
                case .changePin(let registration):
                    ChangePinView(model: model, registration: registration) { sheet = nil }
                case .enableBiometrics(let registration):
                    EnableBiometricsView(model: model, registration: registration) { sheet = nil }
                case .enableTokenBiometrics(let token):
                    EnableBiometricsView(model: model, token: token) { sheet = nil }
                case .history:
                    HistoryView(model: history, registrations: model.registrations) { sheet = nil }
                case .importFile:
                    ImportView(model: transfer) {
                        sheet = nil
                        model.refresh()
                    }
                case .export:
                    ExportView(model: transfer) { sheet = nil }
                case .addPhone(let registration):
                    AddPhoneView(model: newPhone, registration: registration) { sheet = nil }
                case .newPhone:
                    NewPhoneView(model: newPhone) {
                        sheet = nil
                        model.refresh()
                    }
                case .devices(let registration):
                    DevicesView(model: newPhone, registration: registration, retiredSelf: {
                        sheet = nil
                        model.refresh()
                    }) { sheet = nil }
                }
            }
            .confirmationDialog(
                "Remove \(removing?.name ?? "")? This phone will no longer approve sign-ins for it.",
                isPresented: Binding(get: { removing != nil }, set: { if !$0 { removing = nil } }),
                titleVisibility: .visible
            ) {
                Button("Remove", role: .destructive) {
                    if let registration = removing { model.unregister(registration) }
                    removing = nil
                }
            }
            .confirmationDialog(
                "Remove \(removingToken.map { $0.service.isEmpty ? $0.serverHost : $0.service } ?? "")? "
                    + "Its key is deleted from this phone; the server is not told, so remove the token there too.",
                isPresented: Binding(get: { removingToken != nil }, set: { if !$0 { removingToken = nil } }),
                titleVisibility: .visible
            ) {
                Button("Remove", role: .destructive) {
                    if let token = removingToken { model.removeToken(token) }
                    removingToken = nil
                }
            }
            .alert("Nyckel", isPresented: Binding(get: { model.errorText != nil }, set: { _ in model.errorText = nil })) {
                Button("OK", role: .cancel) {}
            } message: {
                Text(model.errorText ?? "")
            }
        }
        .onAppear { model.start() }
        .onDisappear { model.stop() }
    }
}

/// What the accounts screen shows over itself.
enum AccountsSheet: Identifiable {
    case scanner
    case destination(ScanDestination)
    case changePin(RegistrationInfo)
    case enableBiometrics(RegistrationInfo)
    case enableTokenBiometrics(TokenInfo)
    case history
    case importFile
    case export
    case addPhone(RegistrationInfo)
    case newPhone
    case devices(RegistrationInfo)

    var id: String {
        switch self {
        case .scanner: return "scanner"
        case .destination(.register(let payload)): return "register " + payload
        case .destination(.qrOtp(let payload, _)): return "otp " + payload
        case .destination(.addToken(let payload, _)): return "token " + payload
        case .destination(.tiqrLogin(let payload, _)): return "tiqr login " + payload
        case .changePin(let registration): return "pin " + registration.id
        case .enableBiometrics(let registration): return "biometrics " + registration.id
        case .enableTokenBiometrics(let token): return "token biometrics " + token.id
        case .history: return "history"
        case .importFile: return "import"
        case .export: return "export"
        case .addPhone(let registration): return "add phone " + registration.id
        case .newPhone: return "new phone"
        case .devices(let registration): return "devices " + registration.id
        }
    }
}

/// One account: issuer, name and its current code with the time left (HOTP: tap for the next code).
struct CodeRow: View {
    let entry: CodeInfo
    let hotpCode: String?
    let next: () -> Void

    var body: some View {
        HStack {
            VStack(alignment: .leading) {
                Text(entry.account.issuer.isEmpty ? entry.account.name : entry.account.issuer).font(.headline)
                Text(entry.account.name).font(.caption).foregroundStyle(.secondary)
            }
            Spacer()
            if entry.account.otpType == .hotp {
                Button(hotpCode ?? "Show code", action: next)
                    .font(.system(.title2, design: .monospaced))
            } else {
                Text(entry.code).font(.system(.title2, design: .monospaced))
                ProgressView(value: Double(entry.secondsLeft), total: Double(max(entry.account.period, 1)))
                    .progressViewStyle(.circular)
                    .frame(width: 28)
            }
        }
    }
}
