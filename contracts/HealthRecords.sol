// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title HealthRecords
/// @notice Consortium approval of patients' health details and bill details.
///
/// A primary hospital submits a salted commitment to a record and the digest (keccak256) of the
/// record sealed (encrypted) to the patient, itself and its supporting hospitals. The sealed
/// envelope itself never reaches the chain: it stays in the databases of the hospitals that may read
/// it, which exchange it between their servers (`setEndpoint` publishes where each one answers).
/// `EntrySubmitted` carries the commitment and the digest; storage keeps one slot of approval state
/// per entry, never the record. Hospitals may submit many records in one transaction
/// (`submit*Batch`).
/// Every supporting hospital of the panel in force at submission, and the patient, must approve
/// before the entry is approved (`dataMigrationAllow`); one rejection rejects it.
///
/// Patients decide which other hospitals may read their archived records (`grantAccess`,
/// `revokeAccess`, `hasAccess`), and hospitals anchor the head of the off-chain access log
/// (`anchorAccessLog`) so that a rewritten log shows.
///
/// A patient asks for their entries' erasure on chain (`requestErasure`); each hospital that holds
/// the record answers on chain: erased (`confirmErasure`) or kept until a date for a legal reason
/// (`deferErasure`, GDPR art. 17(3)). The commitment, the digest and the votes stay as evidence.
///
/// Membership is the hospitals' own: the deployer (the admin) only registers the first hospitals
/// and then renounces (`renounceAdmin`). From then on a hospital joins or leaves, and the rule
/// itself changes, when more than `approvalPercent` per cent of the current hospitals approve a
/// proposal before it expires (`propose*`, `approveProposal`). A removed hospital can no longer
/// submit, vote, receive envelopes or hold grants; entries that waited for its vote stop waiting
/// once anyone calls `releaseRemovedVoters` for them.
contract HealthRecords {
    /// @notice What an entry holds: a patient's health details or bill details.
    enum EntryKind {
        Health,
        Bill
    }

    /// @notice Where an entry stands. `None` means the entry does not exist.
    enum EntryStatus {
        None,
        Pending,
        Approved,
        Rejected
    }

    /// @notice The on-chain part of an entry, packed into one storage slot. What never changes
    /// after submission (submitter, commitment, block) lives in `EntrySubmitted` only; the
    /// submitter is recovered from the panel id.
    struct Entry {
        address patient;
        // The panel snapshot whose hospitals must vote (global id; its owner is the submitter).
        uint32 panelId;
        // Bit 0: the patient; bit i: the supporting hospital at position i of the panel.
        uint32 votedMask;
        EntryKind kind;
        EntryStatus status;
        uint8 approvals;
        // Panel size plus one (the patient).
        uint8 requiredVotes;
    }

    /// @notice An entry as the views return it: the stored slot plus its submitter.
    struct EntryView {
        address patient;
        address submitter;
        EntryKind kind;
        EntryStatus status;
        uint8 approvals;
        uint8 requiredVotes;
        uint32 votedMask;
        uint32 panelId;
    }

    /// @notice The largest panel: the vote bitmap holds the patient plus 31 hospitals.
    uint256 public constant MAX_SUPPORTING_HOSPITALS = 31;
    /// @notice Length of an uncompressed secp256k1 public key without its 0x04 prefix.
    uint256 public constant PUBLIC_KEY_LENGTH = 64;

    // Bits of `Account.flags`: one slot answers both questions a submission asks of a patient.
    uint8 private constant FLAG_HOSPITAL = 1;
    uint8 private constant FLAG_KEY_PUBLISHED = 2;

    /// @notice Longest endpoint URL a hospital may publish, in bytes.
    uint256 public constant MAX_ENDPOINT_LENGTH = 256;

    /// @notice Why a hospital keeps a record whose erasure was requested (GDPR art. 17(3)).
    enum DeferralReason {
        None,
        // (b) a legal obligation to keep it, e.g. medical-records or tax retention laws
        LegalObligation,
        // (c) public health
        PublicHealth,
        // (d) archiving in the public interest, research or statistics
        Research,
        // (e) establishing, exercising or defending legal claims
        LegalClaims
    }

    /// @notice A holding hospital's answer to an erasure request.
    enum ErasureState {
        None,
        Confirmed,
        Deferred
    }

    /// One account's state, packed in one slot so that a submission reads the submitter's role,
    /// panel and panel size with one storage read.
    struct Account {
        uint8 flags;
        // The panel id the account submits under now, as a primary hospital (0: no panel yet).
        uint32 currentPanel;
        // The number of hospitals in that panel.
        uint8 panelSize;
        // How many times the account was admitted as a hospital: a grant holds only for the
        // membership it was given in, so a removed hospital's grants end for good.
        uint32 membership;
    }

    /// A patient's grant to a hospital.
    struct Grant {
        // Unix seconds; 0: never granted or revoked.
        uint64 expiresAt;
        // The hospital's `Account.membership` when it was granted.
        uint32 membership;
    }

    /// @notice What a membership proposal changes.
    enum ProposalKind {
        None,
        AddHospital,
        RemoveHospital,
        ChangeRule
    }

    /// @notice Where a proposal stands. `Expired` is an open proposal past its expiry.
    enum ProposalStatus {
        None,
        Open,
        Passed,
        Expired
    }

    struct Proposal {
        ProposalKind kind;
        bool passed;
        // ChangeRule: the new approval percentage and proposal lifetime (seconds).
        uint8 percent;
        uint32 lifetime;
        uint64 expiresAt;
        address proposer;
        // AddHospital, RemoveHospital: the hospital; AddHospital: its name.
        address hospital;
        string name;
    }

    /// @notice A proposal as `getProposal` returns it, with its tally among the current hospitals.
    struct ProposalView {
        ProposalKind kind;
        ProposalStatus status;
        address proposer;
        address hospital;
        string name;
        uint8 percent;
        uint32 lifetime;
        uint64 expiresAt;
        uint256 approvals;
        uint256 approvalsNeeded;
    }

    struct ErasureAnswer {
        ErasureState state;
        DeferralReason reason;
        // Deferred until (unix seconds).
        uint64 until;
    }

    /// @notice The deployer, who registers the first hospitals until it renounces; never a patient.
    address public immutable admin;
    /// @notice Whether the admin gave up registering hospitals: membership is then the hospitals'.
    bool public adminRenounced;
    /// @notice A proposal passes when its approvals exceed this percentage of the current hospitals
    /// (50: more than half).
    uint8 public approvalPercent = 50;
    /// @notice How long a proposal stays open, in seconds.
    uint32 public proposalLifetime = 7 days;
    /// @notice Bounds of the membership rule.
    uint8 public constant MIN_APPROVAL_PERCENT = 50;
    uint8 public constant MAX_APPROVAL_PERCENT = 99;
    uint32 public constant MIN_PROPOSAL_LIFETIME = 1 hours;
    uint32 public constant MAX_PROPOSAL_LIFETIME = 90 days;
    // Set on a hospital's position in a panel once it is removed: it no longer votes there. (Panel
    // positions run from 1 to 31, so the top bit is free.)
    uint8 private constant REMOVED_MEMBER = 0x80;

    uint256 private proposalCount;
    mapping(uint256 => Proposal) private proposals;
    mapping(uint256 => mapping(address => bool)) private proposalApprovals;
    // Position (1-based) of each current hospital in `hospitalList`.
    mapping(address => uint256) private hospitalIndex;

    // Id of the next entry. Starting it at 1 in the constructor makes the first submission pay for
    // a non-zero to non-zero write (5k gas) rather than a zero to non-zero one (22k gas).
    uint256 private nextEntryId = 1;
    // Panels get global ids from 1, so that an entry names its panel (and so its submitter) in
    // 32 bits instead of a 160-bit address plus a version.
    uint32 private panelCount;

    mapping(address => string) private hospitalNames;
    mapping(address => Account) private accounts;
    address[] private hospitalList;
    mapping(address => string) private endpoints;

    mapping(address => bytes) private publicKeys;
    // The version of each account's sealing key: 0 while it is the account's own key, then one
    // more at each rotation. Envelopes name the version they were sealed to.
    mapping(address => uint32) private keyVersions;

    mapping(uint32 => address[]) private panelMembers;
    mapping(uint32 => address) private panelOwner;
    // Position (1-based) of each member in a panel; 0 means not a member.
    mapping(uint32 => mapping(address => uint8)) private panelPositions;

    // Each entry is one storage word, read and written whole by `loadEntry` and `saveEntry`. (The
    // compiler reads and writes a stored struct's packed fields one at a time: about 1,000 gas
    // more for every submission and every vote.)
    mapping(uint256 => uint256) private entryWords;
    // Where each field of `Entry` lies in the word, from the lowest bit: the patient (160 bits),
    // then the panel id and the vote mask (32 each), then kind, status, approvals and required
    // votes (8 each).
    uint256 private constant PANEL_SHIFT = 160;
    uint256 private constant VOTED_MASK_SHIFT = 192;
    uint256 private constant KIND_SHIFT = 224;
    uint256 private constant STATUS_SHIFT = 232;
    uint256 private constant APPROVALS_SHIFT = 240;
    uint256 private constant REQUIRED_VOTES_SHIFT = 248;

    // patient => hospital => the grant.
    mapping(address => mapping(address => Grant)) private grants;

    /// @notice Most guardians a patient may name.
    uint256 public constant MAX_GUARDIANS = 10;

    /// A patient's guardians' rule: how many must approve a move, and which set of guardians
    /// approvals count for (one more at each change, so approvals given under an earlier set lapse).
    struct Guardianship {
        uint8 threshold;
        uint32 version;
    }

    mapping(address => address[]) private guardianLists;
    mapping(address => Guardianship) private guardianships;
    // keccak256(patient, guardianship version, new account) => bit i set when guardian i approved.
    mapping(bytes32 => uint256) private recoveryApprovalBits;
    /// @notice Where a recovered patient moved (0: not moved). The old account can do nothing more.
    mapping(address => address) public recoveredTo;
    /// @notice The account a patient moved from (0: none).
    mapping(address => address) public recoveredFrom;

    // entry => when its patient asked for its erasure (unix seconds; 0: not asked).
    mapping(uint256 => uint64) private erasureRequests;
    // entry => holding hospital => its answer.
    mapping(uint256 => mapping(address => ErasureAnswer)) private erasureAnswers;

    event HospitalRegistered(address indexed hospital, string name);
    event KeyPublished(address indexed account, bytes publicKey);
    event KeyRotated(address indexed account, uint32 version, bytes publicKey);
    event SupportingHospitalsSet(address indexed primary, uint32 indexed panelId, address[] hospitals);
    event EntrySubmitted(
        uint256 indexed id,
        address indexed patient,
        address indexed submitter,
        EntryKind kind,
        bytes32 commitment,
        uint32 panelId,
        bytes32 envelopeDigest
    );
    // Every vote emits exactly one of the next three events, which carries the voter: an approval
    // that leaves the entry pending, the approval that completes it, or the rejection that ends it.
    // (Counts and kinds are left out: they cost gas on every vote and follow from the entry.)
    event VoteCast(uint256 indexed id, address indexed voter);
    event EntryApproved(uint256 indexed id, address indexed voter);
    event EntryRejected(uint256 indexed id, address indexed patient, address indexed rejectedBy);
    event AccessGranted(address indexed patient, address indexed hospital, uint64 expiresAt);
    event AccessRevoked(address indexed patient, address indexed hospital);
    event AccessLogAnchored(address indexed hospital, uint64 length, bytes32 head);
    event EndpointSet(address indexed hospital, string url);
    event ErasureRequested(uint256 indexed id, address indexed patient);
    event ErasureConfirmed(uint256 indexed id, address indexed hospital);
    event ErasureDeferred(uint256 indexed id, address indexed hospital, uint64 until, DeferralReason reason);
    event AdminRenounced(address indexed admin);
    event MembershipProposed(
        uint256 indexed id,
        address indexed proposer,
        ProposalKind kind,
        address hospital,
        string name,
        uint8 percent,
        uint32 lifetime,
        uint64 expiresAt
    );
    event ProposalApproved(uint256 indexed id, address indexed hospital);
    event ProposalPassed(uint256 indexed id);
    event HospitalRemoved(address indexed hospital);
    event MembershipRuleChanged(uint8 percent, uint32 lifetime);
    // A removed hospital's vote an entry no longer waits for. When that leaves every remaining
    // vote cast, `EntryApproved` follows with voter 0.
    event RemovedVoterReleased(uint256 indexed id, address indexed hospital);
    event GuardiansSet(address indexed patient, address[] guardians, uint8 threshold);
    event RecoveryApproved(
        address indexed patient, address indexed newAccount, address indexed guardian, uint8 approvals, uint8 threshold
    );
    /// Everything of the patient's moved to `newAccount`: their pending votes, grants (re-emitted
    /// as revocations and grants), guardians and erasure requests.
    event PatientRecovered(address indexed oldAccount, address indexed newAccount);

    error NotAdmin(address caller);
    error NotRegisteredHospital(address account);
    error HospitalAlreadyRegistered(address hospital);
    error ZeroAddress();
    error EmptyHospitalName();
    error InvalidPublicKeyLength(uint256 length);
    error KeyNotOwnedByCaller(address caller, address keyOwner);
    error KeyAlreadyRotated(address account, uint32 version);
    error NoKeyToRotate(address account);
    error SameSealingKey(address account);
    error TooManySupportingHospitals(uint256 count, uint256 max);
    error NoSupportingHospitals(address primary);
    error SupportingHospitalNotRegistered(address hospital);
    error DuplicateSupportingHospital(address hospital);
    error CannotSupportSelf(address primary);
    error PatientKeyNotPublished(address patient);
    error PatientIsParticipant(address patient);
    error ZeroCommitment();
    error ZeroEnvelopeDigest();
    error UnknownEntry(uint256 id);
    error WrongEntryKind(uint256 id, EntryKind actual);
    error NotEntryVoter(uint256 id, address account);
    error AlreadyVoted(uint256 id, address voter);
    error EntryNotPending(uint256 id, EntryStatus status);
    error EmptyBatch();
    error BatchLengthMismatch(uint256 patients, uint256 commitments, uint256 envelopeDigests);
    /// @notice Record `index` of a batch is invalid; `reason` is the custom error a single
    /// submission of it would have reverted with.
    error BatchRecordInvalid(uint256 index, bytes reason);
    error NotPatient(address caller);
    error GranteeNotHospital(address account);
    error AccessAlreadyGranted(address hospital, uint64 expiresAt);
    error AccessNotGranted(address hospital);
    error ExpiryNotInFuture(uint64 expiresAt, uint256 blockTime);
    error EmptyAccessLog();
    error InvalidEndpointLength(uint256 length, uint256 max);
    error NotEntryPatient(uint256 id, address caller);
    error ErasureAlreadyRequested(uint256 id);
    error ErasureNotRequested(uint256 id);
    error NotRecordHolder(uint256 id, address account);
    error ErasureAlreadyConfirmed(uint256 id, address hospital);
    error NoDeferralReason();
    error DeferralNotInFuture(uint64 until, uint256 blockTime);
    error AdminHasRenounced();
    error NoHospitalsYet();
    error UnknownProposal(uint256 id);
    error ProposalExpired(uint256 id, uint64 expiredAt);
    error ProposalAlreadyPassed(uint256 id);
    error AlreadyApprovedProposal(uint256 id, address hospital);
    error InvalidMembershipRule(uint8 percent, uint32 lifetime);
    error LastHospital(address hospital);
    error RemovedFromConsortium(address hospital);
    error InvalidGuardians(uint256 count, uint8 threshold);
    error CannotGuardSelf(address patient);
    error DuplicateGuardian(address guardian);
    error NotGuardian(address patient, address account);
    error AlreadyApprovedRecovery(address patient, address newAccount, address guardian);
    error RecoveryToParticipant(address account);
    error AccountRecovered(address account, address newAccount);

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        if (adminRenounced) revert AdminHasRenounced();
        _;
    }

    modifier onlyHospital() {
        if (accounts[msg.sender].flags & FLAG_HOSPITAL == 0) revert NotRegisteredHospital(msg.sender);
        _;
    }

    constructor() {
        admin = msg.sender;
    }

    // ---------------------------------------------------------------- hospitals and keys

    /// @notice Admits one of the first hospitals (the admin, until it renounces).
    function registerHospital(address hospital, string calldata name) external onlyAdmin {
        checkAdmission(hospital, name);
        admit(hospital, name);
    }

    /// @notice The admin gives up registering hospitals for good: from now on only the hospitals'
    /// proposals change the membership. Refused while there is no hospital to propose.
    function renounceAdmin() external onlyAdmin {
        if (hospitalList.length == 0) revert NoHospitalsYet();
        adminRenounced = true;
        emit AdminRenounced(msg.sender);
    }

    /// @notice Whether `account` is a registered hospital (a current member).
    function isHospital(address account) public view returns (bool) {
        return accounts[account].flags & FLAG_HOSPITAL != 0;
    }

    /// @notice Every current hospital.
    function getHospitals() external view returns (address[] memory) {
        return hospitalList;
    }

    /// @notice The name a hospital was registered under, kept after its removal for the history
    /// ("" when never registered).
    function hospitalName(address hospital) external view returns (string memory) {
        return hospitalNames[hospital];
    }

    /// @notice Publishes the base URL of the caller's server (`https://…`), where the other
    /// hospitals push and pull the envelopes it is owed or holds. An empty URL withdraws it.
    function setEndpoint(string calldata url) external onlyHospital {
        if (bytes(url).length > MAX_ENDPOINT_LENGTH) revert InvalidEndpointLength(bytes(url).length, MAX_ENDPOINT_LENGTH);
        endpoints[msg.sender] = url;
        emit EndpointSet(msg.sender, url);
    }

    /// @notice A hospital's published endpoint ("" when none).
    function endpointOf(address hospital) external view returns (string memory) {
        return endpoints[hospital];
    }

    /// @notice Publishes the caller's secp256k1 public key (64 bytes, x ‖ y) so records can be
    /// sealed to it. The key must hash to the caller's address: nobody can publish a key for
    /// someone else and so read records meant for them.
    function publishKey(bytes calldata publicKey) external {
        if (publicKey.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength(publicKey.length);
        uint32 version = keyVersions[msg.sender];
        if (version != 0) revert KeyAlreadyRotated(msg.sender, version);
        requireNotRecovered(msg.sender);
        address owner = address(uint160(uint256(keccak256(publicKey))));
        if (owner != msg.sender) revert KeyNotOwnedByCaller(msg.sender, owner);
        publicKeys[msg.sender] = publicKey;
        accounts[msg.sender].flags |= FLAG_KEY_PUBLISHED;
        emit KeyPublished(msg.sender, publicKey);
    }

    /// @notice A hospital replaces its sealing key with a new one (64 bytes, x ‖ y, of a key that
    /// need not be its account's): records from now on are sealed to it. Envelopes sealed before
    /// name the version they were sealed to, so the hospital opens them with the key it kept.
    function rotateKey(bytes calldata publicKey) external onlyHospital {
        if (publicKey.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength(publicKey.length);
        if (accounts[msg.sender].flags & FLAG_KEY_PUBLISHED == 0) revert NoKeyToRotate(msg.sender);
        if (keccak256(publicKey) == keccak256(publicKeys[msg.sender])) revert SameSealingKey(msg.sender);
        uint32 version = keyVersions[msg.sender] + 1;
        keyVersions[msg.sender] = version;
        publicKeys[msg.sender] = publicKey;
        emit KeyRotated(msg.sender, version, publicKey);
    }

    /// @notice An account's published public key, the one records are sealed to now ("" when
    /// none).
    function publicKeyOf(address account) external view returns (bytes memory) {
        return publicKeys[account];
    }

    /// @notice An account's sealing key and its version (0: the account's own key).
    function sealingKeyOf(address account) external view returns (bytes memory publicKey, uint32 version) {
        return (publicKeys[account], keyVersions[account]);
    }

    // ---------------------------------------------------------------- membership by majority

    /// @notice A hospital proposes admitting `hospital` under `name`; the proposer's approval counts.
    function proposeAddHospital(address hospital, string calldata name) external onlyHospital returns (uint256 id) {
        checkAdmission(hospital, name);
        id = newProposal(ProposalKind.AddHospital, hospital, name, 0, 0);
    }

    /// @notice A hospital proposes removing `hospital`; the proposer's approval counts.
    function proposeRemoveHospital(address hospital) external onlyHospital returns (uint256 id) {
        checkRemoval(hospital);
        id = newProposal(ProposalKind.RemoveHospital, hospital, "", 0, 0);
    }

    /// @notice A hospital proposes a new rule: proposals pass with more than `percent` per cent of
    /// the hospitals (50 to 99) and stay open `lifetime` seconds (an hour to 90 days).
    function proposeRule(uint8 percent, uint32 lifetime) external onlyHospital returns (uint256 id) {
        if (
            percent < MIN_APPROVAL_PERCENT || percent > MAX_APPROVAL_PERCENT || lifetime < MIN_PROPOSAL_LIFETIME
                || lifetime > MAX_PROPOSAL_LIFETIME
        ) revert InvalidMembershipRule(percent, lifetime);
        id = newProposal(ProposalKind.ChangeRule, address(0), "", percent, lifetime);
    }

    /// @notice The calling hospital approves an open proposal; the approval that carries it past
    /// the rule's threshold carries it out.
    function approveProposal(uint256 id) external onlyHospital {
        Proposal storage proposal = proposals[id];
        if (proposal.kind == ProposalKind.None) revert UnknownProposal(id);
        if (proposal.passed) revert ProposalAlreadyPassed(id);
        if (proposal.expiresAt <= block.timestamp) revert ProposalExpired(id, proposal.expiresAt);
        if (proposalApprovals[id][msg.sender]) revert AlreadyApprovedProposal(id, msg.sender);
        proposalApprovals[id][msg.sender] = true;
        emit ProposalApproved(id, msg.sender);
        passIfCarried(id);
    }

    /// @notice Number of proposals made; ids run from 1 to `proposalCountOf()`.
    function proposalCountOf() external view returns (uint256) {
        return proposalCount;
    }

    /// @notice One proposal with its tally among the current hospitals.
    function getProposal(uint256 id) external view returns (ProposalView memory) {
        Proposal storage proposal = proposals[id];
        if (proposal.kind == ProposalKind.None) revert UnknownProposal(id);
        ProposalStatus status = proposal.passed
            ? ProposalStatus.Passed
            : proposal.expiresAt <= block.timestamp ? ProposalStatus.Expired : ProposalStatus.Open;
        return ProposalView({
            kind: proposal.kind,
            status: status,
            proposer: proposal.proposer,
            hospital: proposal.hospital,
            name: proposal.name,
            percent: proposal.percent,
            lifetime: proposal.lifetime,
            expiresAt: proposal.expiresAt,
            approvals: currentApprovals(id),
            approvalsNeeded: approvalsNeeded()
        });
    }

    /// @notice Whether `hospital` approved proposal `id`.
    function hasApprovedProposal(uint256 id, address hospital) external view returns (bool) {
        return proposalApprovals[id][hospital];
    }

    /// @notice How many of the current hospitals' approvals a proposal needs to pass.
    function approvalsNeeded() public view returns (uint256) {
        return hospitalList.length * approvalPercent / 100 + 1;
    }

    /// @notice Entries whose panel holds removed hospitals stop waiting for their votes: each
    /// removed hospital that has not voted is taken off the votes required, and an entry whose
    /// remaining votes are all cast is approved. Anyone may call it; an entry that is no longer
    /// pending, or has no such vote, is left as it is.
    function releaseRemovedVoters(uint256[] calldata ids) external {
        if (ids.length == 0) revert EmptyBatch();
        for (uint256 i = 0; i < ids.length; ++i) {
            releaseRemovedVotersOf(ids[i]);
        }
    }

    function releaseRemovedVotersOf(uint256 id) private {
        uint256 word = entryWords[id];
        uint8 status = uint8(word >> STATUS_SHIFT);
        if (status == uint8(EntryStatus.None)) revert UnknownEntry(id);
        if (status != uint8(EntryStatus.Pending)) return;
        uint32 panelId = uint32(word >> PANEL_SHIFT);
        address[] storage members = panelMembers[panelId];
        uint8 required = uint8(word >> REQUIRED_VOTES_SHIFT);
        bool released;
        for (uint256 m = 0; m < members.length; ++m) {
            uint8 position = panelPositions[panelId][members[m]];
            if (position & REMOVED_MEMBER == 0) continue;
            uint256 bit = uint256(1) << ((position & ~REMOVED_MEMBER) + VOTED_MASK_SHIFT);
            if (word & bit != 0) continue;
            word |= bit;
            required -= 1;
            released = true;
            emit RemovedVoterReleased(id, members[m]);
        }
        if (!released) return;
        word = (word & ~(uint256(0xff) << REQUIRED_VOTES_SHIFT)) | (uint256(required) << REQUIRED_VOTES_SHIFT);
        bool complete = uint8(word >> APPROVALS_SHIFT) == required;
        if (complete) word = withStatus(word, EntryStatus.Approved);
        entryWords[id] = word;
        if (complete) emit EntryApproved(id, address(0));
    }

    function checkAdmission(address hospital, string calldata name) private view {
        if (hospital == address(0)) revert ZeroAddress();
        if (bytes(name).length == 0) revert EmptyHospitalName();
        if (isHospital(hospital)) revert HospitalAlreadyRegistered(hospital);
        requireNotRecovered(hospital);
    }

    function checkRemoval(address hospital) private view {
        if (!isHospital(hospital)) revert NotRegisteredHospital(hospital);
        if (hospitalList.length == 1) revert LastHospital(hospital);
    }

    function newProposal(ProposalKind kind, address hospital, string memory name, uint8 percent, uint32 lifetime)
        private
        returns (uint256 id)
    {
        id = proposalCount + 1;
        proposalCount = id;
        uint64 expiresAt = uint64(block.timestamp) + proposalLifetime;
        proposals[id] = Proposal({
            kind: kind,
            passed: false,
            percent: percent,
            lifetime: lifetime,
            expiresAt: expiresAt,
            proposer: msg.sender,
            hospital: hospital,
            name: name
        });
        emit MembershipProposed(id, msg.sender, kind, hospital, name, percent, lifetime, expiresAt);
        proposalApprovals[id][msg.sender] = true;
        emit ProposalApproved(id, msg.sender);
        passIfCarried(id);
    }

    // Approvals are counted among the hospitals of now, so that a removed hospital's approval no
    // longer counts. The list is the consortium's members: tens, not thousands.
    function currentApprovals(uint256 id) private view returns (uint256 count) {
        for (uint256 i = 0; i < hospitalList.length; ++i) {
            if (proposalApprovals[id][hospitalList[i]]) ++count;
        }
    }

    function passIfCarried(uint256 id) private {
        if (currentApprovals(id) < approvalsNeeded()) return;
        Proposal storage proposal = proposals[id];
        proposal.passed = true;
        emit ProposalPassed(id);
        if (proposal.kind == ProposalKind.AddHospital) {
            // Checked again: the same hospital may have been admitted by another proposal since.
            if (isHospital(proposal.hospital)) revert HospitalAlreadyRegistered(proposal.hospital);
            admit(proposal.hospital, proposal.name);
        } else if (proposal.kind == ProposalKind.RemoveHospital) {
            checkRemoval(proposal.hospital);
            removeMember(proposal.hospital);
        } else {
            approvalPercent = proposal.percent;
            proposalLifetime = proposal.lifetime;
            emit MembershipRuleChanged(proposal.percent, proposal.lifetime);
        }
    }

    function admit(address hospital, string memory name) private {
        Account storage account = accounts[hospital];
        account.flags |= FLAG_HOSPITAL;
        account.membership += 1;
        hospitalNames[hospital] = name;
        hospitalList.push(hospital);
        hospitalIndex[hospital] = hospitalList.length;
        emit HospitalRegistered(hospital, name);
    }

    /// Takes `hospital` out: it loses its role, its endpoint and its votes in every panel, and the
    /// primaries whose current panel holds it get a panel without it (none when it was the only
    /// member: they name new supporting hospitals before they submit again).
    function removeMember(address hospital) private {
        Account storage account = accounts[hospital];
        account.flags &= ~FLAG_HOSPITAL;
        account.currentPanel = 0;
        account.panelSize = 0;
        uint256 index = hospitalIndex[hospital];
        address last = hospitalList[hospitalList.length - 1];
        hospitalList[index - 1] = last;
        hospitalIndex[last] = index;
        hospitalList.pop();
        delete hospitalIndex[hospital];
        if (bytes(endpoints[hospital]).length != 0) {
            delete endpoints[hospital];
            emit EndpointSet(hospital, "");
        }
        uint32 panels = panelCount;
        for (uint32 panelId = 1; panelId <= panels; ++panelId) {
            uint8 position = panelPositions[panelId][hospital];
            if (position == 0 || position & REMOVED_MEMBER != 0) continue;
            panelPositions[panelId][hospital] = position | REMOVED_MEMBER;
            address owner = panelOwner[panelId];
            if (accounts[owner].currentPanel == panelId) replacePanelWithout(owner, panelId, hospital);
        }
        emit HospitalRemoved(hospital);
    }

    function replacePanelWithout(address owner, uint32 panelId, address removed) private {
        address[] storage members = panelMembers[panelId];
        address[] memory kept = new address[](members.length - 1);
        uint256 count;
        for (uint256 i = 0; i < members.length; ++i) {
            if (members[i] != removed) kept[count++] = members[i];
        }
        Account storage account = accounts[owner];
        if (count == 0) {
            account.currentPanel = 0;
            account.panelSize = 0;
            emit SupportingHospitalsSet(owner, 0, kept);
            return;
        }
        uint32 newPanel = storePanel(owner, kept);
        account.currentPanel = newPanel;
        account.panelSize = uint8(count);
        emit SupportingHospitalsSet(owner, newPanel, kept);
    }

    // ---------------------------------------------------------------- supporting hospitals

    /// @notice Names the caller's supporting hospitals: the panel that must approve the entries it
    /// submits from now on. Entries already submitted keep the panel they were submitted under.
    function setSupportingHospitals(address[] calldata hospitals) external onlyHospital {
        uint256 count = hospitals.length;
        if (count == 0) revert NoSupportingHospitals(msg.sender);
        if (count > MAX_SUPPORTING_HOSPITALS) revert TooManySupportingHospitals(count, MAX_SUPPORTING_HOSPITALS);
        for (uint256 i = 0; i < count; ++i) {
            address hospital = hospitals[i];
            if (hospital == msg.sender) revert CannotSupportSelf(msg.sender);
            if (!isHospital(hospital)) revert SupportingHospitalNotRegistered(hospital);
            for (uint256 j = 0; j < i; ++j) {
                if (hospitals[j] == hospital) revert DuplicateSupportingHospital(hospital);
            }
        }
        uint32 panelId = storePanel(msg.sender, hospitals);
        Account storage account = accounts[msg.sender];
        account.currentPanel = panelId;
        account.panelSize = uint8(count);
        emit SupportingHospitalsSet(msg.sender, panelId, hospitals);
    }

    /// A new panel of `members` (checked already) owned by `owner`; returns its id.
    function storePanel(address owner, address[] memory members) private returns (uint32 panelId) {
        panelId = panelCount + 1;
        mapping(address => uint8) storage positions = panelPositions[panelId];
        for (uint256 i = 0; i < members.length; ++i) {
            positions[members[i]] = uint8(i + 1);
        }
        panelMembers[panelId] = members;
        panelOwner[panelId] = owner;
        panelCount = panelId;
    }

    /// @notice A primary hospital's current supporting hospitals.
    function getSupportingHospitals(address primary) external view returns (address[] memory) {
        return panelMembers[accounts[primary].currentPanel];
    }

    /// @notice The panel id a primary hospital submits under now (0: no panel yet).
    function currentPanelOf(address primary) external view returns (uint32) {
        return accounts[primary].currentPanel;
    }

    /// @notice The supporting hospitals snapshotted for one entry: the ones whose votes it needs.
    function getEntryPanel(uint256 id) external view returns (address[] memory) {
        return panelMembers[existingEntry(id).panelId];
    }

    // ---------------------------------------------------------------- submissions

    /// @notice Submits a patient's health details: a commitment to the record and the digest
    /// (keccak256) of its sealed envelope, which the recipients exchange off chain.
    function submitHealthDetails(address patient, bytes32 commitment, bytes32 envelopeDigest)
        external
        returns (uint256 id)
    {
        return submitOne(EntryKind.Health, patient, commitment, envelopeDigest);
    }

    /// @notice Submits a patient's bill details: a commitment and its envelope's digest.
    function submitBillDetails(address patient, bytes32 commitment, bytes32 envelopeDigest)
        external
        returns (uint256 id)
    {
        return submitOne(EntryKind.Bill, patient, commitment, envelopeDigest);
    }

    /// @notice Submits several patients' health details in one transaction: record `i` is
    /// `(patients[i], commitments[i], envelopeDigests[i])` and becomes entry `firstId + i`, with its
    /// own event, panel snapshot and votes. One invalid record reverts the whole batch with
    /// `BatchRecordInvalid(i, reason)`.
    function submitHealthDetailsBatch(
        address[] calldata patients,
        bytes32[] calldata commitments,
        bytes32[] calldata envelopeDigests
    ) external returns (uint256 firstId) {
        return submitBatch(EntryKind.Health, patients, commitments, envelopeDigests);
    }

    /// @notice Submits several bill details in one transaction, as `submitHealthDetailsBatch`.
    function submitBillDetailsBatch(
        address[] calldata patients,
        bytes32[] calldata commitments,
        bytes32[] calldata envelopeDigests
    ) external returns (uint256 firstId) {
        return submitBatch(EntryKind.Bill, patients, commitments, envelopeDigests);
    }

    function submitOne(EntryKind kind, address patient, bytes32 commitment, bytes32 envelopeDigest)
        private
        returns (uint256 id)
    {
        (uint32 panelId, uint8 requiredVotes) = submitterPanel();
        bytes memory problem = recordProblem(patient, commitment, envelopeDigest);
        if (problem.length != 0) revertWith(problem);
        id = nextEntryId;
        storeEntry(id, kind, patient, commitment, envelopeDigest, panelId, requiredVotes);
        nextEntryId = id + 1;
    }

    function submitBatch(
        EntryKind kind,
        address[] calldata patients,
        bytes32[] calldata commitments,
        bytes32[] calldata envelopeDigests
    ) private returns (uint256 firstId) {
        (uint32 panelId, uint8 requiredVotes) = submitterPanel();
        uint256 count = patients.length;
        if (count == 0) revert EmptyBatch();
        if (commitments.length != count || envelopeDigests.length != count) {
            revert BatchLengthMismatch(count, commitments.length, envelopeDigests.length);
        }
        firstId = nextEntryId;
        for (uint256 i = 0; i < count; ++i) {
            bytes memory problem = recordProblem(patients[i], commitments[i], envelopeDigests[i]);
            if (problem.length != 0) revert BatchRecordInvalid(i, problem);
            storeEntry(firstId + i, kind, patients[i], commitments[i], envelopeDigests[i], panelId, requiredVotes);
        }
        // Written once per batch: the counter's write is shared by every record in it.
        nextEntryId = firstId + count;
    }

    /// The caller's current panel and the votes its entries need; the caller must be a hospital
    /// with a panel. One storage read: role, panel and its size share the account's slot.
    function submitterPanel() private view returns (uint32 panelId, uint8 requiredVotes) {
        Account memory account = accounts[msg.sender];
        if (account.flags & FLAG_HOSPITAL == 0) revert NotRegisteredHospital(msg.sender);
        panelId = account.currentPanel;
        if (panelId == 0) revert NoSupportingHospitals(msg.sender);
        requiredVotes = account.panelSize + 1;
    }

    /// What is wrong with one record of a submission, ABI-encoded as the custom error a single
    /// submission reverts with; empty when nothing is. Returned rather than reverted so that a
    /// batch can name the record's index around it.
    function recordProblem(address patient, bytes32 commitment, bytes32 envelopeDigest)
        private
        view
        returns (bytes memory)
    {
        if (commitment == bytes32(0)) return abi.encodeWithSelector(ZeroCommitment.selector);
        if (envelopeDigest == bytes32(0)) return abi.encodeWithSelector(ZeroEnvelopeDigest.selector);
        uint8 flags = accounts[patient].flags;
        if (patient == msg.sender || flags & FLAG_HOSPITAL != 0) {
            return abi.encodeWithSelector(PatientIsParticipant.selector, patient);
        }
        if (flags & FLAG_KEY_PUBLISHED == 0) {
            address moved = recoveredTo[patient];
            if (moved != address(0)) return abi.encodeWithSelector(AccountRecovered.selector, patient, moved);
            return abi.encodeWithSelector(PatientKeyNotPublished.selector, patient);
        }
        return "";
    }

    function storeEntry(
        uint256 id,
        EntryKind kind,
        address patient,
        bytes32 commitment,
        bytes32 envelopeDigest,
        uint32 panelId,
        uint8 requiredVotes
    ) private {
        Entry memory entry = Entry({
            patient: patient,
            panelId: panelId,
            votedMask: 0,
            kind: kind,
            status: EntryStatus.Pending,
            approvals: 0,
            requiredVotes: requiredVotes
        });
        saveEntry(id, entry);
        emit EntrySubmitted(id, patient, msg.sender, kind, commitment, panelId, envelopeDigest);
    }

    function revertWith(bytes memory encodedError) private pure {
        assembly ("memory-safe") {
            revert(add(encodedError, 32), mload(encodedError))
        }
    }

    /// @notice Number of entries submitted so far; entry ids run from 1 to `entryCount()`.
    function entryCount() external view returns (uint256) {
        return nextEntryId - 1;
    }

    /// @notice The on-chain part of a health-details entry.
    function getHealthDetails(uint256 id) external view returns (EntryView memory) {
        return viewOf(entryOfKind(id, EntryKind.Health));
    }

    /// @notice The on-chain part of a bill-details entry.
    function getBillDetails(uint256 id) external view returns (EntryView memory) {
        return viewOf(entryOfKind(id, EntryKind.Bill));
    }

    /// @notice The on-chain part of any entry.
    function getEntry(uint256 id) external view returns (EntryView memory) {
        return viewOf(existingEntry(id));
    }

    // ---------------------------------------------------------------- votes

    /// @notice The caller (a supporting hospital of the entry's panel, or its patient) approves.
    function approvePendingEntry(uint256 id) external {
        approve(id);
    }

    /// @notice The caller (a supporting hospital of the entry's panel, or its patient) rejects;
    /// one rejection rejects the entry.
    function rejectPendingEntry(uint256 id) external {
        reject(id);
    }

    /// @notice The caller approves several entries in one transaction. Each vote is checked as a
    /// single one is; a refusal reverts them all with that vote's error, which names its entry.
    function approvePendingEntries(uint256[] calldata ids) external {
        if (ids.length == 0) revert EmptyBatch();
        for (uint256 i = 0; i < ids.length; ++i) {
            approve(ids[i]);
        }
    }

    /// @notice The caller rejects several entries in one transaction, as `approvePendingEntries`.
    function rejectPendingEntries(uint256[] calldata ids) external {
        if (ids.length == 0) revert EmptyBatch();
        for (uint256 i = 0; i < ids.length; ++i) {
            reject(ids[i]);
        }
    }

    // Votes work on the entry's storage word itself rather than on an `Entry` copy: they run
    // most often, and unpacking and repacking seven fields cost each vote about 1,000 gas.
    function approve(uint256 id) private {
        uint256 word = openEntryFor(id);
        unchecked {
            // At most 32 voters: the count cannot overflow its byte.
            word += 1 << APPROVALS_SHIFT;
        }
        bool complete = uint8(word >> APPROVALS_SHIFT) == uint8(word >> REQUIRED_VOTES_SHIFT);
        if (complete) word = withStatus(word, EntryStatus.Approved);
        entryWords[id] = word;
        if (complete) emit EntryApproved(id, msg.sender);
        else emit VoteCast(id, msg.sender);
    }

    function reject(uint256 id) private {
        uint256 word = openEntryFor(id);
        entryWords[id] = withStatus(word, EntryStatus.Rejected);
        emit EntryRejected(id, address(uint160(word)), msg.sender);
    }

    /// @notice True once every required voter approved: the entry may be migrated off chain.
    function dataMigrationAllow(uint256 id) external view returns (bool) {
        return existingEntry(id).status == EntryStatus.Approved;
    }

    /// @notice Approvals so far and approvals needed.
    function getVoteCount(uint256 id) external view returns (uint8 approvals, uint8 requiredVotes) {
        Entry memory entry = existingEntry(id);
        return (entry.approvals, entry.requiredVotes);
    }

    /// @notice Whether an account has voted on an entry.
    function hasVoted(uint256 id, address voter) external view returns (bool) {
        Entry memory entry = existingEntry(id);
        uint256 bit = voterBit(entry.patient, entry.panelId, voter);
        return bit != 0 && entry.votedMask & bit != 0;
    }

    /// @notice Whether `account` may hold the entry's sealed envelope: its patient, its submitter
    /// or a supporting hospital of its panel, while a member. Hospitals' servers ask this before
    /// they hand an envelope over or accept one.
    function isRecipient(uint256 id, address account) external view returns (bool) {
        Entry memory entry = existingEntry(id);
        return speaksFor(account, entry.patient) || (isHospital(account) && isHolder(entry, account));
    }

    // ---------------------------------------------------------------- internals

    /// Whether `hospital` is the entry's submitter or a member of its panel: a hospital that
    /// holds the record and must answer an erasure request (also after its removal).
    function isHolder(Entry memory entry, address hospital) private view returns (bool) {
        return hospital == panelOwner[entry.panelId] || panelPositions[entry.panelId][hospital] != 0;
    }

    function existingEntry(uint256 id) private view returns (Entry memory entry) {
        entry = loadEntry(id);
        if (entry.status == EntryStatus.None) revert UnknownEntry(id);
    }

    function viewOf(Entry memory entry) private view returns (EntryView memory) {
        return EntryView({
            patient: entry.patient,
            submitter: panelOwner[entry.panelId],
            kind: entry.kind,
            status: entry.status,
            approvals: entry.approvals,
            requiredVotes: entry.requiredVotes,
            votedMask: entry.votedMask,
            panelId: entry.panelId
        });
    }

    function entryOfKind(uint256 id, EntryKind kind) private view returns (Entry memory entry) {
        entry = existingEntry(id);
        if (entry.kind != kind) revert WrongEntryKind(id, entry.kind);
    }

    /// Entry `id` as stored (all zero, status `None`, when there is none).
    function loadEntry(uint256 id) private view returns (Entry memory entry) {
        uint256 word = entryWords[id];
        entry.patient = address(uint160(word));
        entry.panelId = uint32(word >> PANEL_SHIFT);
        entry.votedMask = uint32(word >> VOTED_MASK_SHIFT);
        entry.kind = EntryKind(uint8(word >> KIND_SHIFT));
        entry.status = EntryStatus(uint8(word >> STATUS_SHIFT));
        entry.approvals = uint8(word >> APPROVALS_SHIFT);
        entry.requiredVotes = uint8(word >> REQUIRED_VOTES_SHIFT);
    }

    /// Stores entry `id` in one write.
    function saveEntry(uint256 id, Entry memory entry) private {
        entryWords[id] = uint256(uint160(entry.patient)) | (uint256(entry.panelId) << PANEL_SHIFT)
            | (uint256(entry.votedMask) << VOTED_MASK_SHIFT) | (uint256(uint8(entry.kind)) << KIND_SHIFT)
            | (uint256(uint8(entry.status)) << STATUS_SHIFT) | (uint256(entry.approvals) << APPROVALS_SHIFT)
            | (uint256(entry.requiredVotes) << REQUIRED_VOTES_SHIFT);
    }

    /// `word` with its status replaced.
    function withStatus(uint256 word, EntryStatus status) private pure returns (uint256) {
        return (word & ~(uint256(0xff) << STATUS_SHIFT)) | (uint256(uint8(status)) << STATUS_SHIFT);
    }

    /// Bit of `voter` in the entry's vote mask, or 0 when it is not a required voter (a removed
    /// hospital keeps its bit, for the votes it cast before).
    function voterBit(address patient, uint32 panelId, address voter) private view returns (uint32) {
        if (speaksFor(voter, patient)) return 1;
        uint8 position = panelPositions[panelId][voter] & ~REMOVED_MEMBER;
        return position == 0 ? 0 : uint32(1) << position;
    }

    /// Checks that the caller may vote on a pending entry now; returns the entry's storage word
    /// with the caller's vote marked, for the vote to write back in one store.
    function openEntryFor(uint256 id) private view returns (uint256 word) {
        word = entryWords[id];
        uint8 status = uint8(word >> STATUS_SHIFT);
        if (status == uint8(EntryStatus.None)) revert UnknownEntry(id);
        if (status != uint8(EntryStatus.Pending)) revert EntryNotPending(id, EntryStatus(status));
        uint256 bit;
        if (msg.sender == address(uint160(word))) {
            requireNotRecovered(msg.sender);
            bit = 1;
        } else {
            uint8 position = panelPositions[uint32(word >> PANEL_SHIFT)][msg.sender];
            if (position == 0) {
                // The patient's account after a recovery: looked up only here, so that the
                // hospitals' votes pay nothing for it.
                if (!speaksFor(msg.sender, address(uint160(word)))) revert NotEntryVoter(id, msg.sender);
                bit = 1;
            } else {
                if (position & REMOVED_MEMBER != 0) revert RemovedFromConsortium(msg.sender);
                bit = uint256(1) << position;
            }
        }
        bit <<= VOTED_MASK_SHIFT;
        if (word & bit != 0) revert AlreadyVoted(id, msg.sender);
        word |= bit;
    }

    // ---------------------------------------------------------------- sharing and the access log

    /// @notice The calling patient lets `hospital` read their archived records until `expiresAt`
    /// (unix seconds; `type(uint64).max` for until revoked). Only a patient (an account with a
    /// published key that is neither a hospital nor the admin) grants, and only for their own
    /// records: there is no patient parameter, so nobody can grant on a patient's behalf.
    function grantAccess(address hospital, uint64 expiresAt) external {
        requirePatient();
        Account memory grantee = accounts[hospital];
        if (grantee.flags & FLAG_HOSPITAL == 0) revert GranteeNotHospital(hospital);
        if (expiresAt <= block.timestamp) revert ExpiryNotInFuture(expiresAt, block.timestamp);
        uint64 current = accessExpiresAt(msg.sender, hospital);
        if (current > block.timestamp) revert AccessAlreadyGranted(hospital, current);
        grants[msg.sender][hospital] = Grant({expiresAt: expiresAt, membership: grantee.membership});
        emit AccessGranted(msg.sender, hospital, expiresAt);
    }

    /// @notice The calling patient withdraws `hospital`'s grant (also one that has expired).
    function revokeAccess(address hospital) external {
        requirePatient();
        if (grants[msg.sender][hospital].expiresAt == 0) revert AccessNotGranted(hospital);
        delete grants[msg.sender][hospital];
        emit AccessRevoked(msg.sender, hospital);
    }

    /// @notice Whether `hospital` holds an unexpired grant from `patient` at this block's time.
    function hasAccess(address patient, address hospital) external view returns (bool) {
        return accessExpiresAt(patient, hospital) > block.timestamp;
    }

    /// @notice When `hospital`'s grant from `patient` expires (0: none, or the grant ended with
    /// the hospital's removal).
    function accessExpiresAt(address patient, address hospital) public view returns (uint64) {
        Grant memory grant = grants[patient][hospital];
        Account memory account = accounts[hospital];
        if (account.flags & FLAG_HOSPITAL == 0 || grant.membership != account.membership) return 0;
        return grant.expiresAt;
    }

    /// @notice Publishes the head of the off-chain access log: the hash of its entry number
    /// `length` (entries are numbered from 1). Only the event is kept: verifiers read them all.
    function anchorAccessLog(uint64 length, bytes32 head) external onlyHospital {
        if (length == 0 || head == bytes32(0)) revert EmptyAccessLog();
        emit AccessLogAnchored(msg.sender, length, head);
    }

    // ---------------------------------------------------------------- guardians and recovery

    /// @notice The calling patient names the accounts (hospitals, relatives: anyone) that may move
    /// them to a new account if they lose their key, and how many of them must agree. A new set
    /// replaces the old, and approvals given under the old set no longer count.
    function setGuardians(address[] calldata guardians, uint8 threshold) external {
        requirePatient();
        uint256 count = guardians.length;
        if (count == 0 || count > MAX_GUARDIANS || threshold == 0 || threshold > count) {
            revert InvalidGuardians(count, threshold);
        }
        for (uint256 i = 0; i < count; ++i) {
            address guardian = guardians[i];
            if (guardian == address(0)) revert ZeroAddress();
            if (guardian == msg.sender) revert CannotGuardSelf(msg.sender);
            for (uint256 j = 0; j < i; ++j) {
                if (guardians[j] == guardian) revert DuplicateGuardian(guardian);
            }
        }
        guardianLists[msg.sender] = guardians;
        Guardianship storage guardianship = guardianships[msg.sender];
        guardianship.threshold = threshold;
        guardianship.version += 1;
        emit GuardiansSet(msg.sender, guardians, threshold);
    }

    /// @notice A guardian of `patient` approves moving them to the account of `newPublicKey`
    /// (64 bytes, x ‖ y), which must never have taken part (no key, no role). When the patient's
    /// threshold of guardians agree on the same key, the patient moves: their pending votes,
    /// grants, guardians and erasure requests follow, and the old account can do nothing more.
    function approveRecovery(address patient, bytes calldata newPublicKey) external {
        requireNotRecovered(msg.sender);
        requireNotRecovered(patient);
        // Guardians move patients only: an account admitted as a hospital since it named them is
        // moved by the membership's proposals, not by its guardians.
        if (isHospital(patient)) revert NotPatient(patient);
        uint256 position = guardianPosition(patient, msg.sender);
        if (newPublicKey.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength(newPublicKey.length);
        address newAccount = address(uint160(uint256(keccak256(newPublicKey))));
        if (
            newAccount == admin || accounts[newAccount].flags != 0 || recoveredTo[newAccount] != address(0)
                || recoveredFrom[newAccount] != address(0)
        ) revert RecoveryToParticipant(newAccount);
        Guardianship memory guardianship = guardianships[patient];
        bytes32 key = keccak256(abi.encode(patient, guardianship.version, newAccount));
        uint256 bits = recoveryApprovalBits[key];
        uint256 bit = uint256(1) << position;
        if (bits & bit != 0) revert AlreadyApprovedRecovery(patient, newAccount, msg.sender);
        bits |= bit;
        recoveryApprovalBits[key] = bits;
        uint8 approvals = countBits(bits);
        emit RecoveryApproved(patient, newAccount, msg.sender, approvals, guardianship.threshold);
        if (approvals >= guardianship.threshold) recover(patient, newAccount, newPublicKey);
    }

    /// @notice A patient's guardians and how many must agree (none: no guardians named).
    function guardiansOf(address patient) external view returns (address[] memory guardians, uint8 threshold) {
        return (guardianLists[patient], guardianships[patient].threshold);
    }

    /// @notice How many of `patient`'s current guardians approved moving them to `newAccount`.
    function recoveryApprovals(address patient, address newAccount) external view returns (uint8) {
        Guardianship memory guardianship = guardianships[patient];
        return countBits(recoveryApprovalBits[keccak256(abi.encode(patient, guardianship.version, newAccount))]);
    }

    /// @notice The account that speaks for `account` now: itself, or where it was moved (through
    /// every later move).
    function currentAccountOf(address account) external view returns (address) {
        while (recoveredTo[account] != address(0)) account = recoveredTo[account];
        return account;
    }

    function guardianPosition(address patient, address guardian) private view returns (uint256) {
        address[] storage guardians = guardianLists[patient];
        for (uint256 i = 0; i < guardians.length; ++i) {
            if (guardians[i] == guardian) return i;
        }
        revert NotGuardian(patient, guardian);
    }

    function recover(address patient, address newAccount, bytes calldata newPublicKey) private {
        recoveredTo[patient] = newAccount;
        recoveredFrom[newAccount] = patient;
        accounts[patient].flags &= ~FLAG_KEY_PUBLISHED;
        publicKeys[newAccount] = newPublicKey;
        accounts[newAccount].flags = FLAG_KEY_PUBLISHED;
        emit KeyPublished(newAccount, newPublicKey);
        // Grants to current hospitals move, with their expiry. The list is the consortium's
        // members: tens, not thousands.
        for (uint256 i = 0; i < hospitalList.length; ++i) {
            address hospital = hospitalList[i];
            uint64 expiresAt = accessExpiresAt(patient, hospital);
            if (expiresAt <= block.timestamp) continue;
            grants[newAccount][hospital] = grants[patient][hospital];
            delete grants[patient][hospital];
            emit AccessRevoked(patient, hospital);
            emit AccessGranted(newAccount, hospital, expiresAt);
        }
        address[] memory guardians = guardianLists[patient];
        uint8 threshold = guardianships[patient].threshold;
        guardianLists[newAccount] = guardians;
        guardianships[newAccount] = Guardianship({threshold: threshold, version: 1});
        emit GuardiansSet(newAccount, guardians, threshold);
        emit PatientRecovered(patient, newAccount);
    }

    /// Whether `account` is `patient`'s account now: the patient itself or an account it was moved
    /// to, and not moved on since.
    function speaksFor(address account, address patient) private view returns (bool) {
        if (recoveredTo[account] != address(0)) return false;
        for (address a = account; a != address(0); a = recoveredFrom[a]) {
            if (a == patient) return true;
        }
        return false;
    }

    function requireNotRecovered(address account) private view {
        address moved = recoveredTo[account];
        if (moved != address(0)) revert AccountRecovered(account, moved);
    }

    function countBits(uint256 bits) private pure returns (uint8 count) {
        for (; bits != 0; bits &= bits - 1) ++count;
    }

    // ---------------------------------------------------------------- erasure

    /// @notice The calling patient asks every hospital holding these entries to erase them.
    /// Each holder answers with `confirmErasure` or `deferErasure`; the chain keeps the entries'
    /// commitments, digests and votes as evidence.
    function requestErasure(uint256[] calldata ids) external {
        if (ids.length == 0) revert EmptyBatch();
        requireNotRecovered(msg.sender);
        for (uint256 i = 0; i < ids.length; ++i) {
            uint256 id = ids[i];
            Entry memory entry = existingEntry(id);
            if (!speaksFor(msg.sender, entry.patient)) revert NotEntryPatient(id, msg.sender);
            if (erasureRequests[id] != 0) revert ErasureAlreadyRequested(id);
            erasureRequests[id] = uint64(block.timestamp);
            emit ErasureRequested(id, msg.sender);
        }
    }

    /// @notice The calling hospital, a holder of the entry, says it erased the record: its
    /// envelope, its archived copy, its predictions and every cached copy. Also after a deferral.
    function confirmErasure(uint256 id) external {
        ErasureAnswer storage answer = answerOfHolder(id);
        answer.state = ErasureState.Confirmed;
        answer.reason = DeferralReason.None;
        answer.until = 0;
        emit ErasureConfirmed(id, msg.sender);
    }

    /// @notice The calling hospital, a holder of the entry, keeps the record until `until` (unix
    /// seconds) because the law obliges or allows it to (`reason`, GDPR art. 17(3)). It may defer
    /// again, or confirm, later.
    function deferErasure(uint256 id, uint64 until, DeferralReason reason) external {
        if (reason == DeferralReason.None) revert NoDeferralReason();
        if (until <= block.timestamp) revert DeferralNotInFuture(until, block.timestamp);
        ErasureAnswer storage answer = answerOfHolder(id);
        answer.state = ErasureState.Deferred;
        answer.reason = reason;
        answer.until = until;
        emit ErasureDeferred(id, msg.sender, until, reason);
    }

    /// @notice When the entry's erasure was requested (unix seconds; 0: not requested).
    function erasureRequestedAt(uint256 id) external view returns (uint64) {
        existingEntry(id);
        return erasureRequests[id];
    }

    /// @notice A hospital's answer to the entry's erasure request.
    function erasureAnswerOf(uint256 id, address hospital)
        external
        view
        returns (ErasureState state, uint64 until, DeferralReason reason)
    {
        existingEntry(id);
        ErasureAnswer storage answer = erasureAnswers[id][hospital];
        return (answer.state, answer.until, answer.reason);
    }

    /// The caller's answer slot for a requested erasure; the caller must hold the entry and not
    /// have confirmed already.
    function answerOfHolder(uint256 id) private view returns (ErasureAnswer storage answer) {
        Entry memory entry = existingEntry(id);
        if (erasureRequests[id] == 0) revert ErasureNotRequested(id);
        if (!isHolder(entry, msg.sender)) revert NotRecordHolder(id, msg.sender);
        answer = erasureAnswers[id][msg.sender];
        if (answer.state == ErasureState.Confirmed) revert ErasureAlreadyConfirmed(id, msg.sender);
    }

    function requirePatient() private view {
        requireNotRecovered(msg.sender);
        uint8 flags = accounts[msg.sender].flags;
        if (flags & FLAG_HOSPITAL != 0 || flags & FLAG_KEY_PUBLISHED == 0 || msg.sender == admin) {
            revert NotPatient(msg.sender);
        }
    }
}
