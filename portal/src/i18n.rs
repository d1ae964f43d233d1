//! The message catalogue in Swedish, Danish and English, and choosing the language from the
//! browser's `Accept-Language` or the user's switch. Pages use only these texts.

/// A language of the portal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// Svenska.
    Sv,
    /// Dansk.
    Da,
    /// English.
    En,
}

impl Lang {
    /// Every language, in the order the switch shows them.
    pub const ALL: [Lang; 3] = [Lang::Sv, Lang::Da, Lang::En];

    /// The BCP 47 tag (`lang` attribute, cookie value).
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Sv => "sv",
            Lang::Da => "da",
            Lang::En => "en",
        }
    }

    /// The language's own name.
    pub fn native_name(self) -> &'static str {
        match self {
            Lang::Sv => "Svenska",
            Lang::Da => "Dansk",
            Lang::En => "English",
        }
    }

    /// The language with tag `tag` (`sv`, `sv-SE`, `da`, `en-GB`, …).
    pub fn from_tag(tag: &str) -> Option<Lang> {
        let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "sv" => Some(Lang::Sv),
            "da" => Some(Lang::Da),
            "en" => Some(Lang::En),
            // Norwegian readers understand Danish best of the three.
            "nb" | "no" | "nn" => Some(Lang::Da),
            _ => None,
        }
    }

    /// The best language for an `Accept-Language` header (by q-value, then order); English
    /// when none is offered.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::from_tag) else { continue };
            let q = pieces.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse::<f32>().ok())).unwrap_or(1.0);
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map(|(_, l)| l).unwrap_or(Lang::En)
    }

    /// The text of `msg` in this language.
    pub fn t(self, msg: Msg) -> &'static str {
        let (sv, da, en) = msg.texts();
        match self {
            Lang::Sv => sv,
            Lang::Da => da,
            Lang::En => en,
        }
    }
}

macro_rules! catalogue {
    ($($name:ident => ($sv:expr, $da:expr, $en:expr),)*) => {
        /// Every text the pages show.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum Msg { $($name,)* }

        impl Msg {
            /// Every message (for the catalogue's completeness test).
            pub const ALL: &'static [Msg] = &[$(Msg::$name,)*];

            /// (Swedish, Danish, English).
            pub fn texts(self) -> (&'static str, &'static str, &'static str) {
                match self { $(Msg::$name => ($sv, $da, $en),)* }
            }
        }
    };
}

catalogue! {
    Brand => ("Nyckel inloggning", "Nyckel log-in", "Nyckel sign-in"),
    Language => ("Språk", "Sprog", "Language"),
    SignInTitle => ("Logga in", "Log ind", "Sign in"),
    UserName => ("Användarnamn", "Brugernavn", "User name"),
    Password => ("Lösenord", "Adgangskode", "Password"),
    SignInButton => ("Logga in", "Log ind", "Sign in"),
    WrongCredentials => ("Fel användarnamn eller lösenord.", "Forkert brugernavn eller adgangskode.", "Wrong user name or password."),
    Blocked => (
        "Kontot är spärrat efter fem felaktiga försök i rad. Be din administratör att återställa det.",
        "Kontoen er spærret efter fem forkerte forsøg i træk. Bed din administrator om at nulstille den.",
        "This account is blocked after five wrong attempts in a row. Ask your administrator to reset it."
    ),
    Inactive => (
        "Kontot är inaktivt eftersom det inte har använts på fyra månader. Be din administratör att återaktivera det.",
        "Kontoen er inaktiv, fordi den ikke er brugt i fire måneder. Bed din administrator om at genaktivere den.",
        "This account is inactive: it has not been used for four months. Ask your administrator to reactivate it."
    ),
    FormExpired => (
        "Formuläret har gått ut. Försök igen.",
        "Formularen er udløbet. Prøv igen.",
        "The form has expired. Please try again."
    ),
    ServiceUnavailable => (
        "Tjänsten för andra steget svarar inte just nu. Försök igen senare.",
        "Tjenesten til andet trin svarer ikke lige nu. Prøv igen senere.",
        "The second-factor service is not answering right now. Please try again later."
    ),
    FactorTitle => ("Andra steget", "Andet trin", "Second step"),
    FactorIntro => ("Välj hur du vill bekräfta att det är du.", "Vælg, hvordan du vil bekræfte, at det er dig.", "Choose how to confirm that it is you."),
    PushButton => ("Skicka en begäran till Nyckel-appen", "Send en anmodning til Nyckel-appen", "Send a request to the Nyckel app"),
    QrButton => ("Visa en QR-kod för Nyckel-appen", "Vis en QR-kode til Nyckel-appen", "Show a QR code for the Nyckel app"),
    TotpLabel => ("Kod från din autentiseringsapp (6 siffror)", "Kode fra din godkendelsesapp (6 cifre)", "Code from your authenticator app (6 digits)"),
    ConfirmButton => ("Bekräfta", "Bekræft", "Confirm"),
    WrongCode => ("Fel kod.", "Forkert kode.", "Wrong code."),
    NoFactorIntro => (
        "Ditt konto har inget andra steg ännu. Lägg till en mobil enhet eller en autentiseringsapp för att fortsätta.",
        "Din konto har endnu ikke et andet trin. Tilføj en mobilenhed eller en godkendelsesapp for at fortsætte.",
        "Your account has no second factor yet. Add a mobile device or an authenticator app to continue."
    ),
    NoDevice => (
        "Det finns ingen aktiv mobil enhet för ditt konto.",
        "Der er ingen aktiv mobilenhed til din konto.",
        "Your account has no active mobile device."
    ),
    PushTitle => ("Godkänn i Nyckel-appen", "Godkend i Nyckel-appen", "Approve in the Nyckel app"),
    PushNumberIntro => ("Skriv det här numret i Nyckel-appen:", "Skriv dette nummer i Nyckel-appen:", "Type this number in the Nyckel app:"),
    PushWaiting => ("Väntar på ditt godkännande …", "Venter på din godkendelse …", "Waiting for your approval …"),
    StateApproved => ("Godkänt. Du loggas in …", "Godkendt. Du bliver logget ind …", "Approved. Signing you in …"),
    StateDenied => ("Begäran nekades i telefonen.", "Anmodningen blev afvist på telefonen.", "The request was denied on the phone."),
    StateExpired => ("Begäran gick ut utan svar.", "Anmodningen udløb uden svar.", "The request expired without an answer."),
    StateBlocked => (
        "Enheten är spärrad efter för många fel PIN-koder.",
        "Enheden er spærret efter for mange forkerte PIN-koder.",
        "The device is blocked after too many wrong PINs."
    ),
    ContinueButton => ("Fortsätt", "Fortsæt", "Continue"),
    OtherWay => ("Välj ett annat sätt", "Vælg en anden måde", "Choose another way"),
    QrTitle => ("Skanna koden med Nyckel-appen", "Scan koden med Nyckel-appen", "Scan the code with the Nyckel app"),
    QrAlt => ("QR-kod för Nyckel-appen; koden finns också som text nedan", "QR-kode til Nyckel-appen; koden står også som tekst nedenfor", "QR code for the Nyckel app; the code is also given as text below"),
    CodeAsText => ("Koden som text (för den som inte kan skanna):", "Koden som tekst (hvis du ikke kan scanne):", "The code as text (if you cannot scan):"),
    OtpLabel => ("Engångslösenord från appen (8 siffror)", "Engangskode fra appen (8 cifre)", "One-time password from the app (8 digits)"),
    QrMismatch => (
        "Engångslösenordet gäller andra uppgifter än den här koden visar. Kontrollera det du skrev.",
        "Engangskoden gælder andre oplysninger end denne kode viser. Kontroller det, du skrev.",
        "The one-time password was made for other details than this code shows. Check what you typed."
    ),
    OtpLocked => (
        "För många fel engångslösenord; de är spärrade. Använd push i stället.",
        "For mange forkerte engangskoder; de er spærret. Brug push i stedet.",
        "Too many wrong one-time passwords; they are locked. Use a push instead."
    ),
    HomeTitle => ("Du är inloggad", "Du er logget ind", "You are signed in"),
    SignedInAs => ("Inloggad som", "Logget ind som", "Signed in as"),
    ManageDevices => ("Hantera mina mobila enheter", "Administrer mine mobilenheder", "Manage my mobile devices"),
    AuthenticatorApp => ("Autentiseringsapp (TOTP)", "Godkendelsesapp (TOTP)", "Authenticator app (TOTP)"),
    SignOut => ("Logga ut", "Log ud", "Sign out"),
    DeviceName => ("Namn", "Navn", "Name"),
    Platform => ("Plattform", "Platform", "Platform"),
    DeviceState => ("Status", "Status", "State"),
    LastUsed => ("Senast använd", "Sidst brugt", "Last used"),
    Remove => ("Ta bort", "Fjern", "Remove"),
    NoDevices => ("Inga enheter registrerade.", "Ingen enheder registreret.", "No devices registered."),
    AddDevice => ("Lägg till en enhet", "Tilføj en enhed", "Add a device"),
    AddDeviceButton => ("Visa registreringskod", "Vis registreringskode", "Show registration code"),
    StateActive => ("aktiv", "aktiv", "active"),
    StateDeviceBlocked => ("spärrad", "spærret", "blocked"),
    StateInactive => ("inaktiv", "inaktiv", "inactive"),
    EnrollTitle => ("Registrera din telefon", "Registrer din telefon", "Register your phone"),
    EnrollIntro => (
        "Öppna Nyckel-appen, välj Registrera och skanna koden. Den gäller i fem minuter.",
        "Åbn Nyckel-appen, vælg Registrer og scan koden. Den gælder i fem minutter.",
        "Open the Nyckel app, choose Register and scan this code. It is valid for five minutes."
    ),
    EnrollWaiting => ("Väntar på telefonen …", "Venter på telefonen …", "Waiting for the phone …"),
    EnrollDone => (
        "Telefonen är registrerad. Jämför plattform och fingeravtryck med det telefonen visar:",
        "Telefonen er registreret. Sammenlign platform og fingeraftryk med det, telefonen viser:",
        "The phone is registered. Compare the platform and fingerprint with what the phone shows:"
    ),
    EnrollExpired => ("Koden gick ut. Börja om.", "Koden udløb. Start forfra.", "The code expired. Start again."),
    Fingerprint => ("Fingeravtryck", "Fingeraftryk", "Fingerprint"),
    CheckButton => ("Jag har skannat koden", "Jeg har scannet koden", "I have scanned the code"),
    BackToDevices => ("Tillbaka till enheterna", "Tilbage til enhederne", "Back to the devices"),
    TotpIntro => (
        "Skanna koden med din autentiseringsapp och skriv sedan koden som appen visar.",
        "Scan koden med din godkendelsesapp, og skriv derefter koden, som appen viser.",
        "Scan this code with your authenticator app, then type the code it shows."
    ),
    TotpAlt => ("QR-kod för autentiseringsappen; hemligheten finns som text nedan", "QR-kode til godkendelsesappen; hemmeligheden står som tekst nedenfor", "QR code for the authenticator app; the secret is given as text below"),
    TotpSecret => ("Eller skriv in hemligheten:", "Eller indtast hemmeligheden:", "Or type in the secret:"),
    TotpSaved => ("Autentiseringsappen är kopplad till ditt konto.", "Godkendelsesappen er knyttet til din konto.", "The authenticator app is linked to your account."),
    Home => ("Start", "Start", "Home"),
    TooManyAttempts => (
        "För många försök från din adress. Vänta en minut och försök igen.",
        "For mange forsøg fra din adresse. Vent et minut, og prøv igen.",
        "Too many attempts from your address. Wait a minute and try again."
    ),
    // --- sms, contacts, administration ---
    SmsButton => ("Skicka en kod med SMS", "Send en kode med SMS", "Send a code by SMS"),
    SmsTitle => ("Mobilnummer för SMS-koder", "Mobilnummer til SMS-koder", "Mobile number for SMS codes"),
    SmsIntro => (
        "Skriv numret med landsnummer, till exempel +46 70 123 45 67. Vi skickar en kod med sex siffror för att bekräfta det.",
        "Skriv nummeret med landekode, for eksempel +45 20 12 34 56. Vi sender en kode med seks cifre for at bekræfte det.",
        "Type the number with its country code, for example +44 7700 900123. We send a six-digit code to confirm it."
    ),
    MobileNumber => ("Mobilnummer", "Mobilnummer", "Mobile number"),
    SendCodeButton => ("Skicka kod", "Send kode", "Send code"),
    CodeSentTo => ("En kod har skickats till", "En kode er sendt til", "A code was sent to"),
    SmsCodeLabel => ("Kod (6 siffror)", "Kode (6 cifre)", "Code (6 digits)"),
    Verified => ("bekräftad", "bekræftet", "verified"),
    NotVerified => ("inte bekräftad", "ikke bekræftet", "not verified"),
    VerifyButton => ("Bekräfta", "Bekræft", "Verify"),
    RemoveNumber => ("Ta bort numret", "Fjern nummeret", "Remove the number"),
    PhoneNotE164 => (
        "Numret ska börja med + och landsnummer och sedan bara siffror.",
        "Nummeret skal starte med + og landekode og derefter kun cifre.",
        "The number must start with + and the country code, then digits only."
    ),
    PhoneLength => ("Ett nummer har 8 till 15 siffror.", "Et nummer har 8 til 15 cifre.", "A number has 8 to 15 digits."),
    PhoneCountryCode => ("Inget landsnummer börjar med 0.", "Ingen landekode starter med 0.", "No country code starts with 0."),
    SmsRateLimited => (
        "För många SMS på kort tid. Vänta tio minuter och försök igen.",
        "For mange SMS på kort tid. Vent ti minutter, og prøv igen.",
        "Too many text messages in a short time. Wait ten minutes and try again."
    ),
    SmsSignInTitle => ("Kod med SMS", "Kode med SMS", "Code by SMS"),
    SmsText => (
        "Din kod till Nyckel inloggning: {code}. Den gäller i 5 minuter. Ge den aldrig till någon.",
        "Din kode til Nyckel log-in: {code}. Den gælder i 5 minutter. Giv den aldrig til nogen.",
        "Your Nyckel sign-in code: {code}. It is valid for 5 minutes. Never give it to anyone."
    ),
    CodeExpired => ("Koden har gått ut. Be om en ny.", "Koden er udløbet. Bed om en ny.", "The code has expired. Ask for a new one."),
    CodeTooManyTries => (
        "För många fel försök; koden gäller inte längre. Be om en ny.",
        "For mange forkerte forsøg; koden gælder ikke længere. Bed om en ny.",
        "Too many wrong tries; the code is void. Ask for a new one."
    ),
    CodeNone => ("Ingen kod väntar. Be om en ny.", "Ingen kode venter. Bed om en ny.", "No code is waiting. Ask for a new one."),
    PhoneVerifiedNotice => ("Numret är bekräftat. SMS kan nu användas vid inloggning.", "Nummeret er bekræftet. SMS kan nu bruges ved log-in.", "The number is verified. SMS can now be used to sign in."),
    ContactsTitle => ("E-postadresser för kontakt", "E-mailadresser til kontakt", "Contact e-mail addresses"),
    ContactsIntro => (
        "Upp till tre adresser. Varje adress bekräftas med en kod som skickas dit.",
        "Op til tre adresser. Hver adresse bekræftes med en kode, der sendes dertil.",
        "Up to three addresses. Each is verified by a code sent to it."
    ),
    EmailAddress => ("E-postadress", "E-mailadresse", "E-mail address"),
    AddAddressButton => ("Lägg till adressen", "Tilføj adressen", "Add the address"),
    NoContacts => ("Inga adresser ännu.", "Ingen adresser endnu.", "No addresses yet."),
    EmailMalformed => ("Det är ingen e-postadress.", "Det er ikke en e-mailadresse.", "That is not an e-mail address."),
    EmailTooLong => ("En adress har högst 254 tecken.", "En adresse har højst 254 tegn.", "An address has at most 254 characters."),
    EmailTooMany => ("Högst tre adresser. Ta bort en först.", "Højst tre adresser. Fjern en først.", "At most three addresses. Remove one first."),
    EmailDuplicate => ("Adressen finns redan.", "Adressen findes allerede.", "The address is there already."),
    EmailCodeSubject => ("Bekräfta din e-postadress", "Bekræft din e-mailadresse", "Confirm your e-mail address"),
    EmailCodeBody => (
        "Skriv koden {code} på sidan E-postadresser för kontakt. Den gäller i 5 minuter. Om du inte har bett om den kan du strunta i det här meddelandet.",
        "Skriv koden {code} på siden E-mailadresser til kontakt. Den gælder i 5 minutter. Hvis du ikke har bedt om den, kan du se bort fra denne besked.",
        "Type the code {code} on the Contact e-mail addresses page. It is valid for 5 minutes. If you did not ask for it, ignore this message."
    ),
    Rename => ("Byt namn", "Omdøb", "Rename"),
    NewName => ("Nytt namn", "Nyt navn", "New name"),
    TypeCodeTitle => ("Kan du inte skanna?", "Kan du ikke scanne?", "Cannot scan?"),
    TypeCodeIntro => (
        "Koden nedan är samma som i QR-koden. Kopiera den till kommandoradsprogrammet nyckel, eller läs upp den grupp för grupp för den som skriver in den. Grupperna är bara för att läsa; mellanslag ingår inte.",
        "Koden nedenfor er den samme som i QR-koden. Kopiér den til kommandolinjeprogrammet nyckel, eller læs den op gruppe for gruppe for den, der skriver den ind. Grupperne er kun til læsning; mellemrum indgår ikke.",
        "The code below is the one in the QR code. Copy it into the nyckel command-line program, or read it out group by group to whoever types it in. The groups are only for reading; spaces are not part of the code."
    ),
    TypeCodeField => ("Koden att kopiera", "Koden til kopiering", "The code to copy"),
    TypeCodeCli => ("Med kommandoradsprogrammet:", "Med kommandolinjeprogrammet:", "With the command-line program:"),
    SmsLink => ("Mobilnummer för SMS-koder", "Mobilnummer til SMS-koder", "Mobile number for SMS codes"),
    ContactsLink => ("E-postadresser för kontakt", "E-mailadresser til kontakt", "Contact e-mail addresses"),
    OrgLink => ("Min organisation", "Min organisation", "My organisation"),
    OrgTitle => ("Organisation", "Organisation", "Organisation"),
    OrgIntro => (
        "Skriv organisationens id. Finns den inte skapas den och du blir dess administratör; annars skickas en begäran till dess administratör.",
        "Skriv organisationens id. Findes den ikke, oprettes den, og du bliver dens administrator; ellers sendes en anmodning til dens administrator.",
        "Type the organisation's identifier. If it does not exist it is created and you become its administrator; otherwise a request goes to its administrator."
    ),
    OrgId => ("Organisationens id", "Organisationens id", "Organisation identifier"),
    OrgName => ("Namn (för en ny organisation)", "Navn (for en ny organisation)", "Name (for a new organisation)"),
    JoinButton => ("Skicka", "Send", "Send"),
    OrgInvalidId => (
        "Ett id består av 1–64 tecken a–z, 0–9, '.', '_' och '-'.",
        "Et id består af 1–64 tegn a–z, 0–9, '.', '_' og '-'.",
        "An identifier is 1–64 of a–z, 0–9, '.', '_', '-'."
    ),
    OrgPending => ("Din begäran väntar på administratören för", "Din anmodning venter på administratoren for", "Your request is waiting for the administrator of"),
    OrgMemberOf => ("Du är medlem i", "Du er medlem af", "You are a member of"),
    OrgAdminOf => ("Du är administratör för", "Du er administrator for", "You are the administrator of"),
    AdminLink => ("Administration", "Administration", "Administration"),
    AdminTitle => ("Administration", "Administration", "Administration"),
    PendingRequests => ("Begäran om åtkomst", "Anmodninger om adgang", "Access requests"),
    NoPendingRequests => ("Inga begäranden väntar.", "Ingen anmodninger venter.", "No requests are waiting."),
    Approve => ("Godkänn", "Godkend", "Approve"),
    Refuse => ("Avslå", "Afvis", "Refuse"),
    Members => ("Medlemmar", "Medlemmer", "Members"),
    AccountStateCol => ("Konto", "Konto", "Account"),
    Role => ("Roll", "Rolle", "Role"),
    RoleAdmin => ("administratör", "administrator", "administrator"),
    RoleMember => ("medlem", "medlem", "member"),
    MakeAdmin => ("Gör till administratör", "Gør til administrator", "Make administrator"),
    MakeMember => ("Ta bort som administratör", "Fjern som administrator", "Remove as administrator"),
    LastAdminRefused => (
        "Organisationen behöver minst en administratör: gör först någon annan till administratör.",
        "Organisationen skal have mindst én administrator: gør først en anden til administrator.",
        "The organisation needs at least one administrator: make someone else administrator first."
    ),
    AccountBlockedState => ("spärrat (fem fel lösenord)", "spærret (fem forkerte adgangskoder)", "blocked (five wrong passwords)"),
    AccountActiveState => ("aktivt", "aktiv", "active"),
    Unblock => ("Lås upp", "Lås op", "Unblock"),
    BlockedDevices => ("Spärrade enheter", "Spærrede enheder", "Blocked devices"),
    NoBlockedDevices => ("Inga spärrade enheter.", "Ingen spærrede enheder.", "No blocked devices."),
    DeviceUnblockUnavailable => (
        "Portalen har ingen administratörsnyckel för Nyckel-servern; enheter låses upp av serverns administratör.",
        "Portalen har ingen administratornøgle til Nyckel-serveren; enheder låses op af serverens administrator.",
        "The portal has no administrator token for the Nyckel server; devices are unblocked by the server's administrator."
    ),
    AuditTitle => ("Händelselogg", "Hændelseslog", "Audit log"),
    AuditTime => ("Tid", "Tid", "Time"),
    AuditEventCol => ("Händelse", "Hændelse", "Event"),
    AuditActor => ("Utförd av", "Udført af", "By"),
    AuditDetail => ("Detaljer", "Detaljer", "Detail"),
    OlderEvents => ("Äldre händelser", "Ældre hændelser", "Older events"),
    NoEvents => ("Inga händelser.", "Ingen hændelser.", "No events."),
    NotAdmin => ("Bara organisationens administratör får se det här.", "Kun organisationens administrator må se dette.", "Only the organisation's administrator may see this."),
    NotInOrg => ("Det kontot hör inte till din organisation.", "Den konto hører ikke til din organisation.", "That account is not in your organisation."),
    Done => ("Klart.", "Færdig.", "Done."),
    Decision => ("Beslut", "Afgørelse", "Decision"),
    EmailRateLimited => (
        "För många bekräftelsemejl på kort tid. Vänta tio minuter och försök igen.",
        "For mange bekræftelsesmails på kort tid. Vent ti minutter, og prøv igen.",
        "Too many confirmation e-mails in a short time. Wait ten minutes and try again."
    ),
    LinkRateLimited => (
        "För många inloggningslänkar på kort tid. Vänta tio minuter eller välj ett annat sätt.",
        "For mange login-links på kort tid. Vent ti minutter, eller vælg en anden måde.",
        "Too many sign-in links in a short time. Wait ten minutes or choose another way."
    ),
    AdminInviteTitle => ("Bjud in en kollega", "Inviter en kollega", "Invite a colleague"),
    AdminInviteIntro => (
        "Kollegan får ett e-postmeddelande med en länk och en kod för att välja lösenord och blir medlem i organisationen.",
        "Kollegaen får en e-mail med et link og en kode til at vælge adgangskode og bliver medlem af organisationen.",
        "Your colleague gets an e-mail with a link and a code to choose a password, and becomes a member of the organisation."
    ),
    AdminInviteButton => ("Skicka inbjudan", "Send invitation", "Send the invitation"),
    AdminInviteSent => ("Inbjudan skickad till", "Invitation sendt til", "Invitation sent to"),
    AdminInviteRefused => (
        "Kan inte bjuda in: ogiltigt namn eller adress, eller så finns kontot redan eller tillhör en annan organisation.",
        "Kan ikke invitere: ugyldigt navn eller adresse, eller kontoen findes allerede eller tilhører en anden organisation.",
        "Cannot invite: an invalid name or address, or the account exists already or belongs to another organisation."
    ),
    SendNewCode => ("Skicka en ny kod", "Send en ny kode", "Send a new code"),
    // --- e-mail flows ---
    EmailLinkButton => ("Skicka en inloggningslänk till min e-post", "Send et log-in-link til min e-mail", "Send me a sign-in link by e-mail"),
    RememberBrowser => ("Kom ihåg den här webbläsaren i 20 dagar", "Husk denne browser i 20 dage", "Remember this browser for 20 days"),
    EmailSentTitle => ("Titta i din e-post", "Se i din e-mail", "Check your e-mail"),
    EmailLinkSent => (
        "Vi har skickat en inloggningslänk till din e-postadress. Öppna den i den här webbläsaren; sidan fortsätter av sig själv. Länken gäller i 10 minuter.",
        "Vi har sendt et log-in-link til din e-mailadresse. Åbn det i denne browser; siden fortsætter af sig selv. Linket gælder i 10 minutter.",
        "We have sent a sign-in link to your e-mail address. Open it in this browser; this page continues by itself. The link is valid for 10 minutes."
    ),
    EmailLinkWaiting => ("Väntar på att länken öppnas …", "Venter på, at linket bliver åbnet …", "Waiting for the link to be opened …"),
    EmailLinkDone => ("Länken är öppnad. Du loggas in …", "Linket er åbnet. Du bliver logget ind …", "The link was opened. Signing you in …"),
    EmailLinkForeign => (
        "Om det inte var du som bad om det här vet någon ditt lösenord: byt det genast. Länken öppnades i en annan webbläsare än den som bad om den, så den loggar inte in någon. Öppna den i webbläsaren där du loggade in.",
        "Hvis det ikke var dig, der bad om dette, kender nogen din adgangskode: skift den med det samme. Linket blev åbnet i en anden browser end den, der bad om det, så det logger ikke nogen ind. Åbn det i den browser, hvor du loggede ind.",
        "If you did not request this, someone knows your password: change it at once. This link was opened in another browser than the one that asked for it, so it signs nobody in. Open it in the browser where you signed in."
    ),
    LinkInvalid => ("Länken är ogiltig.", "Linket er ugyldigt.", "This link is not valid."),
    LinkExpired => ("Länken har gått ut.", "Linket er udløbet.", "This link has expired."),
    LinkUsed => ("Länken har redan använts.", "Linket er allerede brugt.", "This link has already been used."),
    NoEmail => ("Ditt konto har ingen e-postadress.", "Din konto har ingen e-mailadresse.", "Your account has no e-mail address."),
    MailSignInSubject => ("Din inloggningslänk", "Dit log-in-link", "Your sign-in link"),
    MailSignInBody => (
        "Öppna den här länken i webbläsaren där du loggade in som {account} (den gäller i 10 minuter och en gång):\n\n{link}\n\nOm det inte var du som bad om den vet någon ditt lösenord: byt det genast.\n",
        "Åbn dette link i den browser, hvor du loggede ind som {account} (det gælder i 10 minutter og én gang):\n\n{link}\n\nHvis det ikke var dig, der bad om det, kender nogen din adgangskode: skift den med det samme.\n",
        "Open this link in the browser where you signed in as {account} (it is valid for 10 minutes, once):\n\n{link}\n\nIf you did not request this, someone knows your password: change it at once.\n"
    ),
    MailInviteSubject => ("Inbjudan till Nyckel", "Invitation til Nyckel", "Your invitation to Nyckel"),
    MailInviteBody => (
        "Du har bjudits in med användarnamnet {account}. Öppna länken för att välja ditt lösenord (den gäller i 72 timmar och en gång):\n\n{link}\n\nInbjudningskod: {code}\n",
        "Du er inviteret med brugernavnet {account}. Åbn linket for at vælge din adgangskode (det gælder i 72 timer og én gang):\n\n{link}\n\nInvitationskode: {code}\n",
        "You have been invited with the user name {account}. Open the link to choose your password (it is valid for 72 hours, once):\n\n{link}\n\nInvitation code: {code}\n"
    ),
    MailResetSubject => ("Återställ ditt lösenord", "Nulstil din adgangskode", "Reset your password"),
    MailResetBody => (
        "Någon bad om ett nytt lösenord för {account}. Öppna länken för att välja ett (den gäller i 30 minuter och en gång):\n\n{link}\n\nBad du inte om det kan du strunta i det här brevet.\n",
        "Nogen bad om en ny adgangskode til {account}. Åbn linket for at vælge en (det gælder i 30 minutter og én gang):\n\n{link}\n\nHvis du ikke bad om det, kan du se bort fra denne e-mail.\n",
        "Someone asked for a new password for {account}. Open the link to choose one (it is valid for 30 minutes, once):\n\n{link}\n\nIf you did not ask for it, ignore this message.\n"
    ),
    InviteTitle => ("Välj ditt lösenord", "Vælg din adgangskode", "Choose your password"),
    InviteCode => ("Inbjudningskod", "Invitationskode", "Invitation code"),
    NewPassword => ("Nytt lösenord", "Ny adgangskode", "New password"),
    RepeatPassword => ("Samma lösenord igen", "Samme adgangskode igen", "The same password again"),
    PasswordHint => (
        "Minst 8 tecken och svårt att gissa: flera ovanliga ord fungerar bra.",
        "Mindst 8 tegn og svær at gætte: flere usædvanlige ord virker godt.",
        "At least 8 characters and hard to guess: several uncommon words work well."
    ),
    PasswordsDiffer => ("Lösenorden är olika.", "Adgangskoderne er forskellige.", "The two passwords differ."),
    PasswordTooShort => ("Lösenordet måste ha minst 8 tecken.", "Adgangskoden skal have mindst 8 tegn.", "The password must have at least 8 characters."),
    PasswordWeak => ("Lösenordet är för lätt att gissa.", "Adgangskoden er for let at gætte.", "This password is too easy to guess."),
    SetPasswordButton => ("Spara lösenordet", "Gem adgangskoden", "Save the password"),
    ForgotLink => ("Glömt lösenordet?", "Glemt adgangskoden?", "Forgot your password?"),
    ForgotTitle => ("Återställ lösenordet", "Nulstil adgangskoden", "Reset your password"),
    ForgotIntro => (
        "Skriv ditt användarnamn så skickar vi en länk till kontots e-postadress.",
        "Skriv dit brugernavn, så sender vi et link til kontoens e-mailadresse.",
        "Type your user name and we will send a link to the account's e-mail address."
    ),
    ForgotButton => ("Skicka länken", "Send linket", "Send the link"),
    ForgotSent => (
        "Om det finns ett konto med det namnet och en e-postadress har vi skickat en länk dit. Den gäller i 30 minuter.",
        "Hvis der findes en konto med det navn og en e-mailadresse, har vi sendt et link dertil. Det gælder i 30 minutter.",
        "If an account with that name has an e-mail address, a link has been sent to it. It is valid for 30 minutes."
    ),
    ResetTitle => ("Välj ett nytt lösenord", "Vælg en ny adgangskode", "Choose a new password"),
    ResetDone => (
        "Lösenordet är bytt. Logga in med det nya.",
        "Adgangskoden er skiftet. Log ind med den nye.",
        "Your password has been changed. Sign in with the new one."
    ),
    RememberedTitle => ("Ihågkomna webbläsare", "Huskede browsere", "Remembered browsers"),
    RememberedIntro => (
        "De här webbläsarna hoppar över andra steget efter rätt lösenord, i 20 dagar från när de kom ihåg.",
        "Disse browsere springer andet trin over efter den rigtige adgangskode, i 20 dage fra de blev husket.",
        "These browsers skip the second step after the right password, for 20 days from when they were remembered."
    ),
    NoRemembered => ("Inga webbläsare är ihågkomna.", "Ingen browsere er husket.", "No browsers are remembered."),
    RememberedSince => ("Ihågkommen", "Husket", "Remembered"),
    ThisBrowser => ("den här webbläsaren", "denne browser", "this browser"),
    Forget => ("Glöm", "Glem", "Forget"),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_by_quality() {
        assert_eq!(Lang::from_accept_language("da-DK,da;q=0.9,en;q=0.8"), Lang::Da);
        assert_eq!(Lang::from_accept_language("fr, en;q=0.5, sv;q=0.7"), Lang::Sv);
        assert_eq!(Lang::from_accept_language("fr"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn every_message_has_every_language() {
        for msg in Msg::ALL {
            let (sv, da, en) = msg.texts();
            assert!(!sv.is_empty() && !da.is_empty() && !en.is_empty(), "{msg:?}");
        }
    }
}
