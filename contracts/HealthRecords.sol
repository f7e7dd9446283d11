// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title HealthRecords
/// @notice Consortium approval of patients' health details and bill details.
///
/// A primary hospital submits a salted commitment to a record plus the record sealed (encrypted)
/// to the patient, itself and its supporting hospitals. The sealed envelope is only emitted in
/// `EntrySubmitted`, with the commitment; storage keeps one slot of approval state per entry, never
/// the record. Hospitals may submit many records in one transaction (`submit*Batch`).
/// Every supporting hospital of the panel in force at submission, and the patient, must approve
/// before the entry is approved (`dataMigrationAllow`); one rejection rejects it.
///
/// Patients decide which other hospitals may read their archived records (`grantAccess`,
/// `revokeAccess`, `hasAccess`), and hospitals anchor the head of the off-chain access log
/// (`anchorAccessLog`) so that a rewritten log shows.
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

    // Bits of `accountFlags`: one slot answers both questions a submission asks of a patient.
    uint8 private constant FLAG_HOSPITAL = 1;
    uint8 private constant FLAG_KEY_PUBLISHED = 2;

    /// @notice The consortium admin, who registers hospitals.
    address public immutable admin;

    // Id of the next entry. Starting it at 1 in the constructor makes the first submission pay for
    // a non-zero to non-zero write (5k gas) rather than a zero to non-zero one (22k gas).
    uint256 private nextEntryId = 1;
    // Panels get global ids from 1, so that an entry names its panel (and so its submitter) in
    // 32 bits instead of a 160-bit address plus a version.
    uint32 private panelCount;

    mapping(address => string) private hospitalNames;
    mapping(address => uint8) private accountFlags;
    address[] private hospitalList;

    mapping(address => bytes) private publicKeys;

    /// @notice The panel id each primary hospital submits under now (0: no panel yet).
    mapping(address => uint32) public currentPanelOf;
    mapping(uint32 => address[]) private panelMembers;
    mapping(uint32 => address) private panelOwner;
    // Position (1-based) of each member in a panel; 0 means not a member.
    mapping(uint32 => mapping(address => uint8)) private panelPositions;

    mapping(uint256 => Entry) private entries;

    // patient => hospital => the grant's expiry (unix seconds; 0: never granted or revoked).
    mapping(address => mapping(address => uint64)) private accessExpiry;

    event HospitalRegistered(address indexed hospital, string name);
    event KeyPublished(address indexed account, bytes publicKey);
    event SupportingHospitalsSet(address indexed primary, uint32 indexed panelId, address[] hospitals);
    event EntrySubmitted(
        uint256 indexed id,
        address indexed patient,
        address indexed submitter,
        EntryKind kind,
        bytes32 commitment,
        uint32 panelId,
        bytes envelope
    );
    event VoteCast(uint256 indexed id, address indexed voter, bool approve, uint8 approvals, uint8 requiredVotes);
    event EntryApproved(uint256 indexed id, address indexed patient, EntryKind kind);
    event EntryRejected(uint256 indexed id, address indexed patient, address indexed rejectedBy);
    event AccessGranted(address indexed patient, address indexed hospital, uint64 expiresAt);
    event AccessRevoked(address indexed patient, address indexed hospital);
    event AccessLogAnchored(address indexed hospital, uint64 length, bytes32 head);

    error NotAdmin(address caller);
    error NotRegisteredHospital(address account);
    error HospitalAlreadyRegistered(address hospital);
    error ZeroAddress();
    error EmptyHospitalName();
    error InvalidPublicKeyLength(uint256 length);
    error KeyNotOwnedByCaller(address caller, address keyOwner);
    error TooManySupportingHospitals(uint256 count, uint256 max);
    error NoSupportingHospitals(address primary);
    error SupportingHospitalNotRegistered(address hospital);
    error DuplicateSupportingHospital(address hospital);
    error CannotSupportSelf(address primary);
    error PatientKeyNotPublished(address patient);
    error PatientIsParticipant(address patient);
    error ZeroCommitment();
    error EmptyEnvelope();
    error UnknownEntry(uint256 id);
    error WrongEntryKind(uint256 id, EntryKind actual);
    error NotEntryVoter(uint256 id, address account);
    error AlreadyVoted(uint256 id, address voter);
    error EntryNotPending(uint256 id, EntryStatus status);
    error EmptyBatch();
    error BatchLengthMismatch(uint256 patients, uint256 commitments, uint256 envelopes);
    /// @notice Record `index` of a batch is invalid; `reason` is the custom error a single
    /// submission of it would have reverted with.
    error BatchRecordInvalid(uint256 index, bytes reason);
    error NotPatient(address caller);
    error GranteeNotHospital(address account);
    error AccessAlreadyGranted(address hospital, uint64 expiresAt);
    error AccessNotGranted(address hospital);
    error ExpiryNotInFuture(uint64 expiresAt, uint256 blockTime);
    error EmptyAccessLog();

    modifier onlyAdmin() {
        if (msg.sender != admin) revert NotAdmin(msg.sender);
        _;
    }

    modifier onlyHospital() {
        if (accountFlags[msg.sender] & FLAG_HOSPITAL == 0) revert NotRegisteredHospital(msg.sender);
        _;
    }

    constructor() {
        admin = msg.sender;
    }

    // ---------------------------------------------------------------- hospitals and keys

    /// @notice Admits a hospital to the consortium.
    function registerHospital(address hospital, string calldata name) external onlyAdmin {
        if (hospital == address(0)) revert ZeroAddress();
        if (bytes(name).length == 0) revert EmptyHospitalName();
        uint8 flags = accountFlags[hospital];
        if (flags & FLAG_HOSPITAL != 0) revert HospitalAlreadyRegistered(hospital);
        accountFlags[hospital] = flags | FLAG_HOSPITAL;
        hospitalNames[hospital] = name;
        hospitalList.push(hospital);
        emit HospitalRegistered(hospital, name);
    }

    /// @notice Whether `account` is a registered hospital.
    function isHospital(address account) public view returns (bool) {
        return accountFlags[account] & FLAG_HOSPITAL != 0;
    }

    /// @notice Every registered hospital, in registration order.
    function getHospitals() external view returns (address[] memory) {
        return hospitalList;
    }

    /// @notice The name a hospital was registered under ("" when not registered).
    function hospitalName(address hospital) external view returns (string memory) {
        return hospitalNames[hospital];
    }

    /// @notice Publishes the caller's secp256k1 public key (64 bytes, x ‖ y) so records can be
    /// sealed to it. The key must hash to the caller's address: nobody can publish a key for
    /// someone else and so read records meant for them.
    function publishKey(bytes calldata publicKey) external {
        if (publicKey.length != PUBLIC_KEY_LENGTH) revert InvalidPublicKeyLength(publicKey.length);
        address owner = address(uint160(uint256(keccak256(publicKey))));
        if (owner != msg.sender) revert KeyNotOwnedByCaller(msg.sender, owner);
        publicKeys[msg.sender] = publicKey;
        accountFlags[msg.sender] |= FLAG_KEY_PUBLISHED;
        emit KeyPublished(msg.sender, publicKey);
    }

    /// @notice An account's published public key ("" when none).
    function publicKeyOf(address account) external view returns (bytes memory) {
        return publicKeys[account];
    }

    // ---------------------------------------------------------------- supporting hospitals

    /// @notice Names the caller's supporting hospitals: the panel that must approve the entries it
    /// submits from now on. Entries already submitted keep the panel they were submitted under.
    function setSupportingHospitals(address[] calldata hospitals) external onlyHospital {
        uint256 count = hospitals.length;
        if (count == 0) revert NoSupportingHospitals(msg.sender);
        if (count > MAX_SUPPORTING_HOSPITALS) revert TooManySupportingHospitals(count, MAX_SUPPORTING_HOSPITALS);
        uint32 panelId = panelCount + 1;
        mapping(address => uint8) storage positions = panelPositions[panelId];
        for (uint256 i = 0; i < count; ++i) {
            address hospital = hospitals[i];
            if (hospital == msg.sender) revert CannotSupportSelf(msg.sender);
            if (!isHospital(hospital)) revert SupportingHospitalNotRegistered(hospital);
            if (positions[hospital] != 0) revert DuplicateSupportingHospital(hospital);
            positions[hospital] = uint8(i + 1);
        }
        panelMembers[panelId] = hospitals;
        panelOwner[panelId] = msg.sender;
        panelCount = panelId;
        currentPanelOf[msg.sender] = panelId;
        emit SupportingHospitalsSet(msg.sender, panelId, hospitals);
    }

    /// @notice A primary hospital's current supporting hospitals.
    function getSupportingHospitals(address primary) external view returns (address[] memory) {
        return panelMembers[currentPanelOf[primary]];
    }

    /// @notice The supporting hospitals snapshotted for one entry: the ones whose votes it needs.
    function getEntryPanel(uint256 id) external view returns (address[] memory) {
        return panelMembers[existingEntry(id).panelId];
    }

    // ---------------------------------------------------------------- submissions

    /// @notice Submits a patient's health details: a commitment and the sealed envelope.
    function submitHealthDetails(address patient, bytes32 commitment, bytes calldata envelope)
        external
        returns (uint256 id)
    {
        return submitOne(EntryKind.Health, patient, commitment, envelope);
    }

    /// @notice Submits a patient's bill details: a commitment and the sealed envelope.
    function submitBillDetails(address patient, bytes32 commitment, bytes calldata envelope)
        external
        returns (uint256 id)
    {
        return submitOne(EntryKind.Bill, patient, commitment, envelope);
    }

    /// @notice Submits several patients' health details in one transaction: record `i` is
    /// `(patients[i], commitments[i], envelopes[i])` and becomes entry `firstId + i`, with its own
    /// event, panel snapshot and votes. One invalid record reverts the whole batch with
    /// `BatchRecordInvalid(i, reason)`.
    function submitHealthDetailsBatch(
        address[] calldata patients,
        bytes32[] calldata commitments,
        bytes[] calldata envelopes
    ) external returns (uint256 firstId) {
        return submitBatch(EntryKind.Health, patients, commitments, envelopes);
    }

    /// @notice Submits several bill details in one transaction, as `submitHealthDetailsBatch`.
    function submitBillDetailsBatch(
        address[] calldata patients,
        bytes32[] calldata commitments,
        bytes[] calldata envelopes
    ) external returns (uint256 firstId) {
        return submitBatch(EntryKind.Bill, patients, commitments, envelopes);
    }

    function submitOne(EntryKind kind, address patient, bytes32 commitment, bytes calldata envelope)
        private
        returns (uint256 id)
    {
        (uint32 panelId, uint8 requiredVotes) = submitterPanel();
        bytes memory problem = recordProblem(patient, commitment, envelope.length);
        if (problem.length != 0) revertWith(problem);
        id = nextEntryId;
        storeEntry(id, kind, patient, commitment, envelope, panelId, requiredVotes);
        nextEntryId = id + 1;
    }

    function submitBatch(
        EntryKind kind,
        address[] calldata patients,
        bytes32[] calldata commitments,
        bytes[] calldata envelopes
    ) private returns (uint256 firstId) {
        (uint32 panelId, uint8 requiredVotes) = submitterPanel();
        uint256 count = patients.length;
        if (count == 0) revert EmptyBatch();
        if (commitments.length != count || envelopes.length != count) {
            revert BatchLengthMismatch(count, commitments.length, envelopes.length);
        }
        firstId = nextEntryId;
        for (uint256 i = 0; i < count; ++i) {
            bytes memory problem = recordProblem(patients[i], commitments[i], envelopes[i].length);
            if (problem.length != 0) revert BatchRecordInvalid(i, problem);
            storeEntry(firstId + i, kind, patients[i], commitments[i], envelopes[i], panelId, requiredVotes);
        }
        // Written once per batch: the counter's write is shared by every record in it.
        nextEntryId = firstId + count;
    }

    /// The caller's current panel and the votes its entries need; the caller must be a hospital
    /// with a panel.
    function submitterPanel() private view returns (uint32 panelId, uint8 requiredVotes) {
        if (accountFlags[msg.sender] & FLAG_HOSPITAL == 0) revert NotRegisteredHospital(msg.sender);
        panelId = currentPanelOf[msg.sender];
        if (panelId == 0) revert NoSupportingHospitals(msg.sender);
        requiredVotes = uint8(panelMembers[panelId].length + 1);
    }

    /// What is wrong with one record of a submission, ABI-encoded as the custom error a single
    /// submission reverts with; empty when nothing is. Returned rather than reverted so that a
    /// batch can name the record's index around it.
    function recordProblem(address patient, bytes32 commitment, uint256 envelopeLength)
        private
        view
        returns (bytes memory)
    {
        if (commitment == bytes32(0)) return abi.encodeWithSelector(ZeroCommitment.selector);
        if (envelopeLength == 0) return abi.encodeWithSelector(EmptyEnvelope.selector);
        uint8 flags = accountFlags[patient];
        if (patient == msg.sender || flags & FLAG_HOSPITAL != 0) {
            return abi.encodeWithSelector(PatientIsParticipant.selector, patient);
        }
        if (flags & FLAG_KEY_PUBLISHED == 0) return abi.encodeWithSelector(PatientKeyNotPublished.selector, patient);
        return "";
    }

    function storeEntry(
        uint256 id,
        EntryKind kind,
        address patient,
        bytes32 commitment,
        bytes calldata envelope,
        uint32 panelId,
        uint8 requiredVotes
    ) private {
        entries[id] = Entry({
            patient: patient,
            panelId: panelId,
            votedMask: 0,
            kind: kind,
            status: EntryStatus.Pending,
            approvals: 0,
            requiredVotes: requiredVotes
        });
        emit EntrySubmitted(id, patient, msg.sender, kind, commitment, panelId, envelope);
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
        Entry storage entry = openEntryFor(id);
        uint8 approvals = entry.approvals + 1;
        entry.approvals = approvals;
        emit VoteCast(id, msg.sender, true, approvals, entry.requiredVotes);
        if (approvals == entry.requiredVotes) {
            entry.status = EntryStatus.Approved;
            emit EntryApproved(id, entry.patient, entry.kind);
        }
    }

    /// @notice The caller (a supporting hospital of the entry's panel, or its patient) rejects;
    /// one rejection rejects the entry.
    function rejectPendingEntry(uint256 id) external {
        Entry storage entry = openEntryFor(id);
        entry.status = EntryStatus.Rejected;
        emit VoteCast(id, msg.sender, false, entry.approvals, entry.requiredVotes);
        emit EntryRejected(id, entry.patient, msg.sender);
    }

    /// @notice True once every required voter approved: the entry may be migrated off chain.
    function dataMigrationAllow(uint256 id) external view returns (bool) {
        return existingEntry(id).status == EntryStatus.Approved;
    }

    /// @notice Approvals so far and approvals needed.
    function getVoteCount(uint256 id) external view returns (uint8 approvals, uint8 requiredVotes) {
        Entry storage entry = existingEntry(id);
        return (entry.approvals, entry.requiredVotes);
    }

    /// @notice Whether an account has voted on an entry.
    function hasVoted(uint256 id, address voter) external view returns (bool) {
        Entry storage entry = existingEntry(id);
        uint256 bit = voterBit(entry, voter);
        return bit != 0 && entry.votedMask & bit != 0;
    }

    // ---------------------------------------------------------------- internals

    function existingEntry(uint256 id) private view returns (Entry storage entry) {
        entry = entries[id];
        if (entry.status == EntryStatus.None) revert UnknownEntry(id);
    }

    function viewOf(Entry storage entry) private view returns (EntryView memory) {
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

    function entryOfKind(uint256 id, EntryKind kind) private view returns (Entry storage entry) {
        entry = existingEntry(id);
        if (entry.kind != kind) revert WrongEntryKind(id, entry.kind);
    }

    /// Bit of `voter` in the entry's vote mask, or 0 when it is not a required voter.
    function voterBit(Entry storage entry, address voter) private view returns (uint32) {
        if (voter == entry.patient) return 1;
        uint8 position = panelPositions[entry.panelId][voter];
        return position == 0 ? 0 : uint32(1) << position;
    }

    /// Checks that the caller may vote on a pending entry now and records that it has voted.
    function openEntryFor(uint256 id) private returns (Entry storage entry) {
        entry = existingEntry(id);
        if (entry.status != EntryStatus.Pending) revert EntryNotPending(id, entry.status);
        uint32 bit = voterBit(entry, msg.sender);
        if (bit == 0) revert NotEntryVoter(id, msg.sender);
        if (entry.votedMask & bit != 0) revert AlreadyVoted(id, msg.sender);
        entry.votedMask |= bit;
    }

    // ---------------------------------------------------------------- sharing and the access log

    /// @notice The calling patient lets `hospital` read their archived records until `expiresAt`
    /// (unix seconds; `type(uint64).max` for until revoked). Only a patient (an account with a
    /// published key that is neither a hospital nor the admin) grants, and only for their own
    /// records: there is no patient parameter, so nobody can grant on a patient's behalf.
    function grantAccess(address hospital, uint64 expiresAt) external {
        requirePatient();
        if (!isHospital(hospital)) revert GranteeNotHospital(hospital);
        if (expiresAt <= block.timestamp) revert ExpiryNotInFuture(expiresAt, block.timestamp);
        uint64 current = accessExpiry[msg.sender][hospital];
        if (current > block.timestamp) revert AccessAlreadyGranted(hospital, current);
        accessExpiry[msg.sender][hospital] = expiresAt;
        emit AccessGranted(msg.sender, hospital, expiresAt);
    }

    /// @notice The calling patient withdraws `hospital`'s grant (also one that has expired).
    function revokeAccess(address hospital) external {
        requirePatient();
        if (accessExpiry[msg.sender][hospital] == 0) revert AccessNotGranted(hospital);
        delete accessExpiry[msg.sender][hospital];
        emit AccessRevoked(msg.sender, hospital);
    }

    /// @notice Whether `hospital` holds an unexpired grant from `patient` at this block's time.
    function hasAccess(address patient, address hospital) external view returns (bool) {
        return accessExpiry[patient][hospital] > block.timestamp;
    }

    /// @notice When `hospital`'s grant from `patient` expires (0: none).
    function accessExpiresAt(address patient, address hospital) external view returns (uint64) {
        return accessExpiry[patient][hospital];
    }

    /// @notice Publishes the head of the off-chain access log: the hash of its entry number
    /// `length` (entries are numbered from 1). Only the event is kept: verifiers read them all.
    function anchorAccessLog(uint64 length, bytes32 head) external onlyHospital {
        if (length == 0 || head == bytes32(0)) revert EmptyAccessLog();
        emit AccessLogAnchored(msg.sender, length, head);
    }

    function requirePatient() private view {
        uint8 flags = accountFlags[msg.sender];
        if (flags & FLAG_HOSPITAL != 0 || flags & FLAG_KEY_PUBLISHED == 0 || msg.sender == admin) {
            revert NotPatient(msg.sender);
        }
    }
}
